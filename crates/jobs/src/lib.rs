//! kontor jobs
