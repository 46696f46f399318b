//! The conformance suite on uno-core's own deterministic runtime.

conformance_tests::suite!(conformance_tests::VirtualBackend);
