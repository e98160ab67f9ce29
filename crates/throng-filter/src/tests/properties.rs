//! Seeded random comparison against naive references: NFKC of the whole string (to check
//! the segmentation), `str::contains` on normalised text (to check the verdicts), and
//! invariants of the masked text.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use unicode_normalization::UnicodeNormalization;

use crate::normalise::{is_invisible, is_separator, normalise, NormaliseOptions};
use crate::{Action, FilterConfig, FilterSet, Verdict, WordList};

/// Characters that words are made of, so that matches are frequent.
const CORE: &[char] = &[
    'a', 'b', 'A', 'ａ', 'Ｂ', 'f', 'i', 'ﬀ', 'ﬁ', '가', '中', 'ｶ',
];

/// Characters that stress normalisation: combining marks that compose or reorder,
/// Hangul jamo (conjoining and compatibility), half-width katakana with a voiced mark,
/// Tibetan and Tamil vowels that decompose or compose unusually, invisible characters,
/// separators, compatibility forms.
const EXTENDED: &[char] = &[
    'e', 'é', 'g', 'k', ' ', '.', '-', '．', '、', '\u{301}', '\u{308}', '\u{344}', '\u{327}',
    '\u{1100}', '\u{1161}', '\u{11A8}', '\u{3131}', '\u{314F}', '\u{3161}', '각', 'ﾞ', 'ガ',
    '\u{3099}', '\u{F40}', '\u{F71}', '\u{F72}', '\u{F73}', '\u{BC6}', '\u{BBE}', '\u{200B}',
    '\u{FE0F}', '\u{AD}', '\u{212A}', '㎏', 'İ', 'ǅ', 'Ⅻ', '文',
];

/// Not in either alphabet, not a separator, unchanged by normalisation.
const MASK_CHAR: char = '■';

fn random_string(rng: &mut StdRng, max_chars: usize) -> String {
    let length = rng.gen_range(0..=max_chars);
    (0..length)
        .map(|_| {
            if rng.gen_bool(0.6) {
                CORE[rng.gen_range(0..CORE.len())]
            } else {
                EXTENDED[rng.gen_range(0..EXTENDED.len())]
            }
        })
        .collect()
}

/// The obvious definition: NFKC over the whole string, then the per-character steps.
fn reference_normalise(text: &str, options: NormaliseOptions) -> String {
    text.nfkc()
        .filter(|&character| {
            let dropped =
                is_invisible(character) || (options.ignore_separators && is_separator(character));
            !dropped
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Random words that survive normalisation.
fn random_words(rng: &mut StdRng, options: NormaliseOptions) -> Vec<String> {
    let count = rng.gen_range(1..=3);
    let mut words = Vec::new();
    while words.len() < count {
        let word = random_string(rng, 3);
        if !reference_normalise(&word, options).is_empty() {
            words.push(word);
        }
    }
    words
}

#[derive(Default, Debug)]
struct Tally {
    clean: usize,
    masked: usize,
    rejected: usize,
}

#[test]
fn random_texts_agree_with_naive_references() {
    let mut rng = StdRng::seed_from_u64(0x7468_726f_6e67);
    let mut tally = Tally::default();
    for _ in 0..3_000 {
        let options = NormaliseOptions {
            ignore_separators: rng.gen_bool(0.3),
        };
        let reject_words = random_words(&mut rng, options);
        let mask_words = random_words(&mut rng, options);
        let text = random_string(&mut rng, 24);
        let filter = FilterSet::build(FilterConfig {
            lists: vec![
                WordList {
                    name: "severe".into(),
                    action: Action::Reject,
                    words: reject_words.clone(),
                },
                WordList {
                    name: "mild".into(),
                    action: Action::Mask,
                    words: mask_words.clone(),
                },
            ],
            mask_char: MASK_CHAR,
            ignore_separators: options.ignore_separators,
        })
        .unwrap();
        let context =
            format!("text {text:?}, reject {reject_words:?}, mask {mask_words:?}, {options:?}");

        // Segment-wise normalisation equals whole-string normalisation.
        let normalised_text = normalise(&text, options);
        assert_eq!(
            normalised_text,
            reference_normalise(&text, options),
            "{context}"
        );
        let occurs = |words: &[String]| {
            words
                .iter()
                .any(|word| normalised_text.contains(&reference_normalise(word, options)))
        };

        let verdict = filter.check_text(&text);
        let body_verdict = filter.check(&json!({"k": [1, text]}));
        match &verdict {
            Verdict::Clean => {
                tally.clean += 1;
                assert!(!occurs(&reject_words) && !occurs(&mask_words), "{context}");
                assert_eq!(body_verdict, Verdict::Clean, "{context}");
            }
            Verdict::Rejected { list } => {
                tally.rejected += 1;
                assert!(occurs(&reject_words), "{context}");
                assert_eq!(list, "severe", "{context}");
                assert_eq!(
                    body_verdict,
                    Verdict::Rejected { list: list.clone() },
                    "{context}"
                );
            }
            Verdict::Masked(masked) => {
                tally.masked += 1;
                assert!(!occurs(&reject_words) && occurs(&mask_words), "{context}");
                check_masking(&text, masked, &mask_words, options, &context);
                assert_eq!(
                    body_verdict,
                    Verdict::Masked(json!({"k": [1, masked]})),
                    "{context}"
                );
            }
        }
    }
    // The run must exercise every outcome, or it proves little.
    assert!(
        tally.clean > 300 && tally.masked > 300 && tally.rejected > 300,
        "{tally:?}"
    );
}

/// The masked text keeps the original's length in characters, changes characters only
/// into the mask character, changes at least one, and no mask word survives in it.
fn check_masking(
    original: &str,
    masked: &str,
    mask_words: &[String],
    options: NormaliseOptions,
    context: &str,
) {
    let original_chars: Vec<char> = original.chars().collect();
    let masked_chars: Vec<char> = masked.chars().collect();
    assert_eq!(
        original_chars.len(),
        masked_chars.len(),
        "{context}: masked {masked:?}"
    );
    let mut changed = 0;
    for (original_char, masked_char) in original_chars.iter().zip(&masked_chars) {
        if original_char != masked_char {
            assert_eq!(*masked_char, MASK_CHAR, "{context}: masked {masked:?}");
            changed += 1;
        }
    }
    assert!(changed > 0, "{context}: masked {masked:?}");
    let normalised_masked = reference_normalise(masked, options);
    for word in mask_words {
        let normalised_word = reference_normalise(word, options);
        assert!(
            !normalised_masked.contains(&normalised_word),
            "{context}: {word:?} survives in {masked:?}"
        );
    }
}
