//! kontor financials
