//! Measures how long building a full-size filter and checking typical messages take.
//!
//! `cargo run -p throng-filter --example build_speed` prints the numbers; nothing is
//! asserted (timings depend on the machine and the build profile).

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use throng_filter::{Action, FilterConfig, FilterSet, Verdict, WordList, MAX_TOTAL_WORDS};

/// A Latin word of 4 to 10 letters or a CJK word of 2 to 6 characters, as real lists
/// mix them.
fn random_word(rng: &mut StdRng) -> String {
    let cjk = rng.gen_bool(0.5);
    let length = if cjk {
        rng.gen_range(2..=6)
    } else {
        rng.gen_range(4..=10)
    };
    (0..length)
        .map(|_| {
            if cjk {
                char::from_u32(rng.gen_range(0x4E00..0x9FA5)).expect("CJK ideograph")
            } else {
                char::from(rng.gen_range(b'a'..=b'z'))
            }
        })
        .collect()
}

fn main() {
    let mut rng = StdRng::seed_from_u64(42);
    let words: Vec<String> = (0..MAX_TOTAL_WORDS)
        .map(|_| random_word(&mut rng))
        .collect();
    // Severe words are CJK (a tenth of the total), mild ones the rest, so that the large
    // Latin text below exercises masking rather than stopping at the first reject.
    let mut reject_words = Vec::new();
    let mut mask_words = Vec::new();
    for word in words {
        if !word.is_ascii() && reject_words.len() < MAX_TOTAL_WORDS / 10 {
            reject_words.push(word);
        } else {
            mask_words.push(word);
        }
    }
    // The automaton alone, on the same (already lowercase) words, to see what share of
    // the build is normalisation and validation.
    let started = Instant::now();
    let automaton = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(reject_words.iter().chain(&mask_words))
        .expect("automaton builds");
    println!(
        "automaton alone: {} patterns in {:.1} ms",
        automaton.patterns_len(),
        started.elapsed().as_secs_f64() * 1000.0
    );

    let config = FilterConfig {
        lists: vec![
            WordList {
                name: "severe".into(),
                action: Action::Reject,
                words: reject_words,
            },
            WordList {
                name: "mild".into(),
                action: Action::Mask,
                words: mask_words.clone(),
            },
        ],
        ..FilterConfig::default()
    };

    let started = Instant::now();
    let filter = FilterSet::build(config).expect("valid config");
    println!(
        "build: {} words in {:.1} ms, automata {:.1} MiB",
        filter.word_count(),
        started.elapsed().as_secs_f64() * 1000.0,
        filter.automaton_bytes() as f64 / (1024.0 * 1024.0),
    );

    // A danmaku-sized message: short mixed text in a small JSON body.
    let messages: Vec<serde_json::Value> = (0..10_000)
        .map(|index| {
            serde_json::json!({
                "text": format!("第{index}条弹幕 Hello everyone, 主播好！ nice stream {index}"),
                "user": {"nick": "观众", "level": index % 50},
            })
        })
        .collect();
    let started = Instant::now();
    let mut outcomes = [0usize; 3];
    for message in &messages {
        let slot = match filter.check(message) {
            Verdict::Clean => 0,
            Verdict::Masked(_) => 1,
            Verdict::Rejected { .. } => 2,
        };
        outcomes[slot] += 1;
    }
    let elapsed = started.elapsed();
    println!(
        "check: {} bodies in {:.1} ms, {:.2} µs each (clean {}, masked {}, rejected {})",
        messages.len(),
        elapsed.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1e6 / messages.len() as f64,
        outcomes[0],
        outcomes[1],
        outcomes[2],
    );

    // One large text (about 64 KiB), masked throughout.
    let large: String = mask_words
        .iter()
        .filter(|word| word.is_ascii())
        .take(6_000)
        .map(|word| format!("{} and ", word.to_uppercase()))
        .collect();
    let started = Instant::now();
    let verdict = filter.check_text(&large);
    println!(
        "check_text: {} KiB in {:.2} ms ({})",
        large.len() / 1024,
        started.elapsed().as_secs_f64() * 1000.0,
        match verdict {
            Verdict::Clean => "clean",
            Verdict::Masked(_) => "masked",
            Verdict::Rejected { .. } => "rejected",
        },
    );
}
