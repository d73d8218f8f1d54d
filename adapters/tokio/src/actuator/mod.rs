//! Actuator backends (SPEC section 5).
