//! Sans-IO sensitive-word filter for message bodies: word lists that reject or mask,
//! matched in linear time over normalised text.
//!
//! No runtime, no IO: a [`FilterConfig`] goes in, [`FilterSet::build`] validates it and
//! builds the automata, and [`FilterSet::check`] turns a body into a [`Verdict`].
//!
//! Layout:
//! - [`config`]: the serde definition ([`FilterConfig`], [`WordList`], [`Action`]), its
//!   limits and [`FilterError`].
//! - `normalise`: NFKC, lowercase, invisible and separator characters, and the map from
//!   normalised offsets back to original characters.
//! - `filter`: [`FilterSet`] (one Aho-Corasick automaton per action), [`Verdict`], the
//!   check of one string and the masking.
//! - `body`: [`FilterSet::check`], the walk over every string of a JSON body.
//!
//! # Example
//!
//! ```
//! use throng_filter::{Action, FilterConfig, FilterSet, Verdict, WordList};
//!
//! let filter = FilterSet::build(FilterConfig {
//!     lists: vec![
//!         WordList { name: "severe".into(), action: Action::Reject, words: vec!["scam".into()] },
//!         WordList { name: "mild".into(), action: Action::Mask, words: vec!["darn".into()] },
//!     ],
//!     ..FilterConfig::default()
//! })?;
//!
//! let body = serde_json::json!({"text": "Ｄａｒｎ it", "meta": {"darn": 1}});
//! // Full-width and upper case are caught; the key and the number are not filtered.
//! assert_eq!(filter.check(&body), Verdict::Masked(serde_json::json!({"text": "**** it", "meta": {"darn": 1}})));
//! assert_eq!(filter.check_text("a SCAM!"), Verdict::Rejected { list: "severe".into() });
//! assert_eq!(filter.check_text("hello"), Verdict::Clean);
//! # Ok::<(), throng_filter::FilterError>(())
//! ```
//!
//! # Matching
//!
//! Words match as **substrings** of the normalised text, with no notion of word
//! boundaries: Chinese and Japanese are written without spaces, so substring matching is
//! the only workable rule there, and one rule for every language keeps the filter
//! predictable. The price is the classic false positive in space-separated languages: a
//! mask word `ass` also masks the middle of `class`. Keep short Latin words out of the
//! lists, or put them in a mask list rather than a reject list.
//!
//! All words of all reject lists share one automaton, and all words of all mask lists
//! another, each built once per [`FilterSet::build`] with leftmost-longest semantics: of
//! overlapping words, the one starting first wins, and of those starting at the same
//! place, the longest. A message is rejected if any reject word occurs anywhere in any of
//! its strings (the verdict names the list of the first one in document order); only
//! otherwise are mask words masked. A word listed in both a reject and a mask list
//! therefore rejects.
//!
//! # Normalisation
//!
//! Words and message text go through the same steps, so a word matches wherever its
//! normalised form occurs in the message's normalised form:
//!
//! 1. Unicode **NFKC**: full-width `ＢＡＤ` becomes `BAD`, the ligature `ﬁ` becomes
//!    `fi`, `㎏` becomes `kg`, half-width katakana become full-width, `e` followed by a
//!    combining acute becomes `é`.
//! 2. Invisible characters (Unicode's Default_Ignorable_Code_Point set: zero-width
//!    spaces and joiners, soft hyphens, variation selectors, bidi controls) are dropped,
//!    always: `b\u{200B}ad` is `bad`.
//! 3. With [`FilterConfig::ignore_separators`] (off by default), separators are dropped
//!    too: Unicode white space, ASCII punctuation and symbols, Latin-1 punctuation, General
//!    Punctuation (U+2010..U+205E) and the common CJK punctuation. Then `b.a.d`, `b a d`
//!    and `b、a、d` match `bad`; words are normalised the same way, so a word `bad word`
//!    matches `badword`. This is linear like the rest. It also lets words match across
//!    gaps between real words, which is why it is off by default.
//! 4. **Lowercase** (Unicode's simple per-character lowercase, no locale rules): `Bad`,
//!    `BAD` and `ｂＡｄ` are all `bad`. Case folding goes no further (`ß` is not `ss`).
//!
//! # Masking
//!
//! Matches are found in the normalised text, whose byte offsets differ from the
//! original's (NFKC may grow or shrink a character, and dropped characters vanish). The
//! original text is cut into segments at stable boundaries (a segment is one character,
//! plus any following characters NFKC could join to it, such as combining marks or
//! Hangul jamo), and each segment's piece of normalised text is remembered. A match masks
//! every original character from the segment holding its first byte to the segment
//! holding its last, inclusive, each replaced by one [`FilterConfig::mask_char`]:
//!
//! - `ＢＡＤ` (three full-width letters) becomes `***`; `Ｂad` becomes `***`.
//! - A ligature that holds part of a match is masked whole: with the word `fi`,
//!   `oﬃce` (four characters, the second the ligature `ﬃ`) becomes `o*ce`.
//! - Characters dropped by normalisation inside a match are masked too: `b\u{200B}ad` becomes
//!   `****`, and with `ignore_separators`, `b.a.d` becomes `*****`.
//! - Everything outside the masked ranges is copied byte for byte; the masked text has
//!   the same number of characters as the original.
//!
//! # Bodies
//!
//! [`FilterSet::check`] looks at every string value of a JSON body, at any depth, never at
//! object keys or at numbers, booleans and nulls. The walk is iterative (no recursion),
//! so nesting depth needs no bound; its cost is linear in the body's size.
//!
//! # Wiring it into a server
//!
//! - Build with [`FilterSet::build`] at start-up and on every update through the API, and
//!   hold the result as `Arc<FilterSet>` behind a swappable pointer; a [`FilterError`]
//!   leaves the old filter in place and its message (which names the list and word index,
//!   never the word) is safe to return to the API caller. The built filter is immutable
//!   and `Send + Sync`.
//! - Call [`FilterSet::check`] after the rate limits and before the type policy. Map
//!   [`Verdict::Rejected`] to an error frame (the sender learns the message was refused;
//!   the list name is for logs and metrics, not necessarily for the client), publish the
//!   body of [`Verdict::Masked`] instead of the original, publish a [`Verdict::Clean`]
//!   body as is.
//! - The protocol's `filtered` error code (305) is the answer to a rejected message.
//! - The cost of a check is linear in the body's size; an empty filter
//!   ([`FilterSet::is_empty`]) returns at once.
//! - Building is CPU work proportional to the words (see Cost): on an async runtime, run
//!   it with `spawn_blocking` rather than on a reactor thread.
//!
//! # Cost
//!
//! `cargo run -p throng-filter --example build_speed` builds the largest allowed filter
//! (100,000 Latin and CJK words) and checks typical danmaku bodies. In an unoptimised
//! debug build on a busy two-core machine: about 2.5 s to build, most of it in the
//! automaton's own construction, 9 MiB of automata, about 30 µs per small body. An
//! optimised build is many times faster; measure it there with `--release`.
//!
//! **Invariant:** the filter does no IO and keeps no state between calls; the same
//! filter and body always give the same verdict.

pub mod config;

mod body;
mod filter;
mod normalise;

#[cfg(test)]
mod tests;

pub use config::{
    Action, FilterConfig, FilterError, WordList, MAX_LISTS, MAX_LIST_NAME_BYTES, MAX_TOTAL_WORDS,
    MAX_WORD_BYTES,
};
pub use filter::{FilterSet, Verdict};
