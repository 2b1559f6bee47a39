//! kontor connectors
