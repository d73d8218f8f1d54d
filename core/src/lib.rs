//! autonomic-core: see README.
