//! What operators do to a running installation, shared by `stockroom` on the
//! command line and the console.

pub mod parked;
