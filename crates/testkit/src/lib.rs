//! Test kit for voxwire (mock xAI server, fakes, audio assertions).
