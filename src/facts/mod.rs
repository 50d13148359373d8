//! What the databases hold, read and compared: a database's size and tables for the plan
//! (survey), its content per key range (fingerprint), and everything "Verified" claims (verify).

pub mod fingerprint;
pub mod replication;
pub mod survey;
pub mod verify;
