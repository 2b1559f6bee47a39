//! kontor testkit
