//! The VPC planner with hand-made live state.
