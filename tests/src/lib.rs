//! Reference models and helpers shared by the integration and property tests.
