//! kontor odata
