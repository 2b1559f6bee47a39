//! kontor financials-server
