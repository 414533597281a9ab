//! Shared helpers for the end-to-end tests in `tests/tests/`: locating the built binaries,
//! starting clusters as OS processes on loopback, and cleaning up after them.
