//! Data-driven tests: normalisation, text verdicts, body verdicts, validation, and a
//! seeded random comparison against a naive reference.

use serde_json::{json, Value};

use crate::normalise::{normalise, NormaliseOptions};
use crate::{Action, FilterConfig, FilterError, FilterSet, Verdict, WordList};

mod properties;

use Action::{Mask, Reject};

/// A list spec: name, action, words.
type ListSpec<'a> = (&'a str, Action, &'a [&'a str]);

fn build(lists: &[ListSpec], ignore_separators: bool) -> FilterSet {
    FilterSet::build(config(lists, ignore_separators)).expect("test filter builds")
}

fn config(lists: &[ListSpec], ignore_separators: bool) -> FilterConfig {
    FilterConfig {
        lists: lists
            .iter()
            .map(|(name, action, words)| WordList {
                name: (*name).to_owned(),
                action: *action,
                words: words.iter().map(|word| (*word).to_owned()).collect(),
            })
            .collect(),
        mask_char: '*',
        ignore_separators,
    }
}

fn masked(text: &str) -> Verdict<String> {
    Verdict::Masked(text.to_owned())
}

fn rejected<Body>(list: &str) -> Verdict<Body> {
    Verdict::Rejected {
        list: list.to_owned(),
    }
}

/// Runs `check_text` on each input and compares, naming the failing case.
fn check_texts(filter: &FilterSet, cases: &[(&str, Verdict<String>)]) {
    for (input, expected) in cases {
        assert_eq!(&filter.check_text(input), expected, "input {input:?}");
        // The same string as a body must get the same verdict.
        let expected_body = match expected {
            Verdict::Clean => Verdict::Clean,
            Verdict::Masked(text) => Verdict::Masked(Value::String(text.clone())),
            Verdict::Rejected { list } => Verdict::Rejected { list: list.clone() },
        };
        assert_eq!(filter.check(&json!(input)), expected_body, "body {input:?}");
    }
}

const STANDARD_LISTS: &[ListSpec] = &[
    ("severe", Reject, &["scam", "敏感词"]),
    (
        "mild",
        Mask,
        &["bad", "darn", "café", "中文", "ダメ", "한국", "kg", "fi"],
    ),
];

#[test]
fn normalisation_folds_case_width_and_compatibility_forms() {
    let plain = NormaliseOptions {
        ignore_separators: false,
    };
    let separators = NormaliseOptions {
        ignore_separators: true,
    };
    let cases: &[(&str, NormaliseOptions, &str)] = &[
        ("", plain, ""),
        ("Hello World", plain, "hello world"),
        ("ＢＡＤ ｂａｄ", plain, "bad bad"),
        ("ﬁne ﬀ", plain, "fine ff"),
        ("5㎏", plain, "5kg"),
        ("Ⅻ", plain, "xii"),
        ("ⓑⓐⓓ", plain, "bad"),
        ("𝐁𝐀𝐃", plain, "bad"),
        ("\u{212A}", plain, "k"),
        // Decomposed and precomposed accents normalise alike; accents are kept.
        ("cafe\u{301}", plain, "café"),
        ("CAFÉ", plain, "café"),
        ("ｶﾀｶﾅ ﾀﾞﾒ", plain, "カタカナ ダメ"),
        (
            "\u{1112}\u{1161}\u{11AB}\u{1100}\u{116E}\u{11A8}",
            plain,
            "한국",
        ),
        // Compatibility jamo compose with each other under NFKC: ㄱ + ㅡ is 그.
        ("\u{3131}\u{3161}", plain, "그"),
        ("中文", plain, "中文"),
        ("b\u{200B}a\u{00AD}d\u{FE0F}", plain, "bad"),
        ("b.a.d b a d", plain, "b.a.d b a d"),
        ("b.a.d b a d", separators, "badbad"),
        ("Ｂ．Ａ．Ｄ", separators, "bad"),
        ("中、文。「好」・ok…", separators, "中文好ok"),
        ("a\u{3000}b\u{00A0}c", separators, "abc"),
    ];
    for (input, options, expected) in cases {
        assert_eq!(
            normalise(input, *options),
            *expected,
            "input {input:?} {options:?}"
        );
    }
}

#[test]
fn text_verdicts_with_the_standard_lists() {
    let filter = build(STANDARD_LISTS, false);
    check_texts(
        &filter,
        &[
            // Plain matches, and masking keeps everything around them byte for byte.
            ("bad", masked("***")),
            ("this is bad.", masked("this is ***.")),
            ("  <b>bad</b> \n\t", masked("  <b>***</b> \n\t")),
            ("bad bad", masked("*** ***")),
            ("badbad", masked("******")),
            ("darn bad", masked("**** ***")),
            // Case and width.
            ("BaD", masked("***")),
            ("ＢＡＤ", masked("***")),
            ("ｂａｄ!", masked("***!")),
            ("xＢadx", masked("x***x")),
            ("ＤａＲｎ it", masked("**** it")),
            // Compatibility forms: one original character per mask character.
            ("ⓑⓐⓓ", masked("***")),
            ("𝐁𝐀𝐃 day", masked("*** day")),
            ("5㎏ of it", masked("5* of it")),
            ("ﬁne", masked("*ne")),
            // A match covering part of a ligature masks all of it.
            ("oﬃce", masked("o*ce")),
            ("fine", masked("**ne")),
            ("cafe\u{301} au lait", masked("***** au lait")),
            ("CAFÉ", masked("****")),
            // CJK: substring matching, half-width katakana, Hangul jamo.
            ("我说中文", masked("我说**")),
            ("中文中文", masked("****")),
            ("ﾀﾞﾒです", masked("***です")),
            (
                "\u{1112}\u{1161}\u{11AB}\u{1100}\u{116E}\u{11A8}어",
                masked("******어"),
            ),
            ("한국어", masked("**어")),
            // Invisible characters inside a word are masked with it; after it, kept.
            ("b\u{200B}ad", masked("****")),
            ("bad\u{FE0F}", masked("***\u{FE0F}")),
            // Reject wins, whatever else the text holds.
            ("scam", rejected("severe")),
            ("a ＳＣＡＭ", rejected("severe")),
            ("bad scam", rejected("severe")),
            ("这是敏感词吗", rejected("severe")),
            ("scammer", rejected("severe")),
            // Substrings match by design (see the crate docs).
            ("badge", masked("***ge")),
            // No match: letters apart, accents kept, different order, empty.
            ("ba d", Verdict::Clean),
            ("b-a-d", Verdict::Clean),
            ("bda", Verdict::Clean),
            ("ba\u{301}d", Verdict::Clean),
            ("cafe", Verdict::Clean),
            ("中 文", Verdict::Clean),
            ("", Verdict::Clean),
            ("hello, world", Verdict::Clean),
        ],
    );
}

#[test]
fn overlapping_words_mask_the_leftmost_longest() {
    let filter = build(
        &[("mild", Mask, &["ab", "abc", "bcd", "he", "she", "hers"])],
        false,
    );
    check_texts(
        &filter,
        &[
            ("abcd", masked("***d")),
            ("xbcd", masked("x***")),
            ("abab", masked("****")),
            ("ushers", masked("u***rs")),
            ("hers", masked("****")),
        ],
    );
}

#[test]
fn ignoring_separators_matches_across_punctuation_and_spaces() {
    let filter = build(
        &[
            ("severe", Reject, &["scam"]),
            ("mild", Mask, &["bad", "bad word"]),
        ],
        true,
    );
    check_texts(
        &filter,
        &[
            ("b.a.d", masked("*****")),
            ("b a d!", masked("*****!")),
            ("Ｂ・Ａ・Ｄ", masked("*****")),
            ("bad.", masked("***.")),
            ("badword", masked("*******")),
            ("bad-word", masked("********")),
            ("s c a m", rejected("severe")),
            // The documented cost: words match across gaps between real words.
            ("grab ad", masked("gra****")),
            ("b.o.d", Verdict::Clean),
        ],
    );
}

#[test]
fn mask_character_and_list_order_are_configurable() {
    let mut definition = config(
        &[
            ("first", Reject, &["x"]),
            ("second", Reject, &["X", "y"]),
            ("mild", Mask, &["bad"]),
        ],
        false,
    );
    definition.mask_char = '●';
    let filter = FilterSet::build(definition).unwrap();
    check_texts(
        &filter,
        &[
            ("so bad", masked("so ●●●")),
            // "X" normalises to "x", already in "first": the first list is reported.
            ("X", rejected("first")),
            ("y", rejected("second")),
        ],
    );
}

#[test]
fn huge_inputs_are_checked_whole() {
    let filter = build(STANDARD_LISTS, false);
    let padding = "x中".repeat(50_000);
    check_texts(
        &filter,
        &[
            (&padding, Verdict::Clean),
            (&format!("{padding}bad"), masked(&format!("{padding}***"))),
            (
                &format!("bad{padding}ＢＡＤ"),
                masked(&format!("***{padding}***")),
            ),
            (&format!("{padding}scam{padding}"), rejected("severe")),
        ],
    );
}

#[test]
fn an_empty_filter_passes_everything() {
    let filter = FilterSet::default();
    assert!(filter.is_empty());
    assert_eq!(filter.word_count(), 0);
    check_texts(&filter, &[("bad", Verdict::Clean), ("", Verdict::Clean)]);
    assert_eq!(filter.check(&json!({"a": ["scam"]})), Verdict::Clean);
}

#[test]
fn body_verdicts_cover_every_string_and_no_key() {
    let filter = build(STANDARD_LISTS, false);
    let cases: Vec<(Value, Verdict)> = vec![
        (json!({"text": "hello"}), Verdict::Clean),
        (
            json!({"text": "bad"}),
            Verdict::Masked(json!({"text": "***"})),
        ),
        (json!("ＢＡＤ"), Verdict::Masked(json!("***"))),
        // Keys, numbers, booleans and nulls are never touched.
        (json!({"bad": 1, "scam": [true, null, 2.5]}), Verdict::Clean),
        (
            json!({"bad": "bad", "n": 7, "list": [{"deep": ["fine", "中文!"]}, "ok"]}),
            Verdict::Masked(
                json!({"bad": "***", "n": 7, "list": [{"deep": ["**ne", "**!"]}, "ok"]}),
            ),
        ),
        (
            json!({"a": {"b": {"c": ["x", "a scam"]}}}),
            rejected("severe"),
        ),
        // A reject anywhere wins over masks seen before it.
        (json!(["bad", "darn", {"k": "scam"}]), rejected("severe")),
        (json!([]), Verdict::Clean),
        (json!({}), Verdict::Clean),
        (json!(null), Verdict::Clean),
        (json!(""), Verdict::Clean),
    ];
    for (body, expected) in cases {
        assert_eq!(filter.check(&body), expected, "body {body}");
    }
}

/// Nests `leaf` inside `depth` alternating arrays and objects.
fn nested(depth: usize, leaf: &str) -> Value {
    let mut value = Value::String(leaf.to_owned());
    for level in 0..depth {
        value = if level % 2 == 0 {
            json!([1, value])
        } else {
            json!({"k": value, "n": 2})
        };
    }
    value
}

#[test]
fn nesting_deeper_than_any_parser_allows_is_still_checked() {
    let filter = build(STANDARD_LISTS, false);
    let depth = 1_000;
    let cases = [
        (nested(depth, "ok"), Verdict::Clean),
        (
            nested(depth, "so bad"),
            Verdict::Masked(nested(depth, "so ***")),
        ),
        (nested(depth, "scam"), rejected("severe")),
    ];
    for (body, expected) in cases {
        assert!(
            filter.check(&body) == expected,
            "depth {depth}, expected {expected:?}"
        );
    }
}

#[test]
fn invalid_configs_are_refused_with_the_list_and_word_index() {
    let long_word = "a".repeat(crate::MAX_WORD_BYTES + 1);
    let longest_word = "a".repeat(crate::MAX_WORD_BYTES);
    let long_name = "n".repeat(crate::MAX_LIST_NAME_BYTES + 1);
    let too_many_lists: Vec<ListSpec> = (0..=crate::MAX_LISTS)
        .map(|_| ("x", Mask, &[][..]))
        .collect();
    let many_words: Vec<String> = (0..=crate::MAX_TOTAL_WORDS)
        .map(|i| format!("w{i}"))
        .collect();
    let many_words: Vec<&str> = many_words.iter().map(String::as_str).collect();

    let mut bad_mask_char = config(&[("mild", Mask, &["bad"])], false);
    bad_mask_char.mask_char = '\n';
    let cases: Vec<(FilterConfig, Result<(), FilterError>)> = vec![
        (
            config(&[("mild", Mask, &["ok", &longest_word])], false),
            Ok(()),
        ),
        (config(&[("mild", Mask, &["..."])], false), Ok(())),
        (config(&[("mild", Mask, &[])], false), Ok(())),
        (
            bad_mask_char,
            Err(FilterError::InvalidMaskChar { mask_char: '\n' }),
        ),
        (
            config(&too_many_lists, false),
            Err(FilterError::TooManyLists { count: 65 }),
        ),
        (
            config(
                &[
                    ("a", Mask, &many_words[..50_001]),
                    ("b", Reject, &many_words[50_001..]),
                ],
                false,
            ),
            Err(FilterError::TooManyWords { count: 100_001 }),
        ),
        (
            config(&[("a", Mask, &["x"]), ("", Mask, &["y"])], false),
            Err(FilterError::EmptyListName { list_index: 1 }),
        ),
        (
            config(&[(&long_name, Mask, &["y"])], false),
            Err(FilterError::ListNameTooLong {
                list_index: 0,
                bytes: 65,
            }),
        ),
        (
            config(&[("a", Mask, &["x"]), ("a", Reject, &["y"])], false),
            Err(FilterError::DuplicateListName { list: "a".into() }),
        ),
        (
            config(
                &[("a", Mask, &["x"]), ("b", Reject, &["y", "z", &long_word])],
                false,
            ),
            Err(FilterError::WordTooLong {
                list: "b".into(),
                word_index: 2,
                bytes: 257,
            }),
        ),
        (
            // U+FDFA is one character of 3 bytes that NFKC turns into 18 characters.
            config(
                &[
                    ("a", Mask, &["x"]),
                    ("b", Mask, &["y", &"\u{FDFA}".repeat(10)]),
                ],
                false,
            ),
            Err(FilterError::NormalisedWordTooLong {
                list: "b".into(),
                word_index: 1,
                bytes: normalise(&"\u{FDFA}".repeat(10), NormaliseOptions::default()).len(),
            }),
        ),
        (
            config(&[("a", Mask, &["x", ""])], false),
            Err(FilterError::EmptyWord {
                list: "a".into(),
                word_index: 1,
            }),
        ),
        (
            config(&[("a", Reject, &["\u{200B}\u{FE0F}"])], false),
            Err(FilterError::EmptyWord {
                list: "a".into(),
                word_index: 0,
            }),
        ),
        (
            config(&[("a", Mask, &["ok"]), ("b", Mask, &["fine", "..."])], true),
            Err(FilterError::EmptyWord {
                list: "b".into(),
                word_index: 1,
            }),
        ),
    ];
    for (definition, expected) in cases {
        let summary: Vec<(String, usize)> = definition
            .lists
            .iter()
            .map(|list| (list.name.clone(), list.words.len()))
            .collect();
        let result = FilterSet::build(definition).map(|_| ());
        assert_eq!(result, expected, "lists {summary:?}");
    }
}

#[test]
fn error_messages_name_the_place_but_not_the_word() {
    let cases = [
        (
            FilterError::WordTooLong {
                list: "severe".into(),
                word_index: 3,
                bytes: 300,
            },
            "list \"severe\", word 3: 300 bytes, at most 256 are allowed",
        ),
        (
            FilterError::EmptyWord {
                list: "mild".into(),
                word_index: 0,
            },
            "list \"mild\", word 0: nothing is left of it after normalisation",
        ),
        (
            FilterError::TooManyWords { count: 100_001 },
            "the lists hold 100001 words in all, at most 100000 are allowed",
        ),
    ];
    for (error, expected) in cases {
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn the_largest_allowed_filter_builds_and_matches() {
    // Distinct words of mixed scripts, as a real list would have.
    let words: Vec<String> = (0..crate::MAX_TOTAL_WORDS)
        .map(|i| format!("w{i}词{}", i % 97))
        .collect();
    let (reject_words, mask_words) = words.split_at(words.len() / 2);
    let filter = FilterSet::build(FilterConfig {
        lists: vec![
            WordList {
                name: "severe".into(),
                action: Reject,
                words: reject_words.to_vec(),
            },
            WordList {
                name: "mild".into(),
                action: Mask,
                words: mask_words.to_vec(),
            },
        ],
        ..FilterConfig::default()
    })
    .unwrap();
    assert_eq!(filter.word_count(), crate::MAX_TOTAL_WORDS);
    assert!(filter.automaton_bytes() > 0);
    check_texts(
        &filter,
        &[
            ("say Ｗ12词12 now", rejected("severe")),
            ("say w99999词89", masked("say *********")),
            ("say w99999词8", Verdict::Clean),
        ],
    );
}

#[test]
fn config_reads_from_toml_and_json() {
    let from_toml: FilterConfig = toml::from_str(
        r##"
        mask_char = "#"

        [[lists]]
        name = "severe"
        action = "reject"
        words = ["scam", "敏感词"]

        [[lists]]
        name = "mild"
        action = "mask"
        "##,
    )
    .unwrap();
    assert_eq!(
        from_toml,
        FilterConfig {
            lists: vec![
                WordList {
                    name: "severe".into(),
                    action: Reject,
                    words: vec!["scam".into(), "敏感词".into()]
                },
                WordList {
                    name: "mild".into(),
                    action: Mask,
                    words: vec![]
                },
            ],
            mask_char: '#',
            ignore_separators: false,
        }
    );
    let as_json = serde_json::to_value(&from_toml).unwrap();
    assert_eq!(as_json["lists"][1]["action"], "mask");
    assert_eq!(
        serde_json::from_value::<FilterConfig>(as_json).unwrap(),
        from_toml
    );

    let refused = [
        r##"mask_chars = "#""##,
        r#"mask_char = "ab""#,
        "[[lists]]\nname = \"a\"\naction = \"drop\"",
        "[[lists]]\nname = \"a\"\naction = \"mask\"\nword = [\"x\"]",
    ];
    for text in refused {
        assert!(
            toml::from_str::<FilterConfig>(text).is_err(),
            "accepted {text:?}"
        );
    }
    assert_eq!(
        toml::from_str::<FilterConfig>("").unwrap(),
        FilterConfig::default()
    );
}

#[test]
fn the_built_filter_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<FilterSet>();
    let filter = std::sync::Arc::new(build(STANDARD_LISTS, false));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let filter = filter.clone();
            std::thread::spawn(move || filter.check_text("ＢＡＤ"))
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), masked("***"));
    }
}
