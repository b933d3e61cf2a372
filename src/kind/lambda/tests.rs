//! The Lambda planner with hand-made live state.
