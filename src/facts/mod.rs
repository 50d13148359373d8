//! What the databases hold, read and compared: a database's size and tables for the plan
//! (survey), the catch-up copy's fingerprint of its content per key range (fingerprint), the
//! independent comparison of the copy with the original (verifier), and the schema as pg_dump
//! prints it, a second witness (verify).

pub mod fingerprint;
pub mod replication;
pub mod survey;
pub mod verifier;
pub mod verify;
