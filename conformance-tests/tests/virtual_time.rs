//! The conformance suite on uno-core's own deterministic runtime.

conformance_tests::suite!(conformance_tests::VirtualBackend);

#[test]
fn suite_has_at_least_sixty_cases() {
    let names = conformance_tests::case_names();
    assert!(names.len() >= 60, "only {} cases", names.len());
}
