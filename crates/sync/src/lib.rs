//! kontor sync
