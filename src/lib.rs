pub use voxwire_core as core;
