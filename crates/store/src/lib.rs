//! kontor store
