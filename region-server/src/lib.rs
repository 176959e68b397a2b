//! Region server library (see issue 3).
