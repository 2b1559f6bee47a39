//! kontor sales
