//! An error's source chain, for the error tests: uno's errors follow std's rule, each cause is
//! printed once, by `Display` or by `source()`, never both.

use std::error::Error;

/// The messages of `error` and of every source after it, outermost first, checked by
/// [`assert_each_cause_once`].
pub(crate) fn chain(error: &(dyn Error + 'static)) -> Vec<String> {
    let mut messages = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        messages.push(error.to_string());
        next = error.source();
    }
    assert_each_cause_once(&messages);
    messages
}

/// No message repeats the text of a cause after it (the `connection refused: connection refused`
/// bug), and each is a lowercase phrase without a trailing period.
pub(crate) fn assert_each_cause_once(messages: &[String]) {
    for (i, message) in messages.iter().enumerate() {
        for cause in &messages[i + 1..] {
            assert!(
                !message.contains(cause.as_str()),
                "{message:?} repeats its cause {cause:?}: {messages:?}"
            );
        }
        assert!(!message.ends_with('.'), "{message:?}");
        let first = message.chars().next().expect("an error says something");
        assert!(!first.is_uppercase(), "{message:?}");
    }
}
