//! The trigger planner with hand-made live state.
