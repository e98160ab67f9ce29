//! Text normalisation for matching (NFKC, lowercase, invisible characters dropped,
//! optionally separators dropped), with a map from normalised bytes back to the original.
//!
//! NFKC is not a per-character function: a base letter and the combining marks after it
//! compose, and so do Hangul jamo. To map positions back, the original text is cut into
//! *segments* at stable boundaries, where normalising the pieces separately gives the same
//! result as normalising the whole (UAX #15, "stable code points"). Each segment's
//! normalised bytes then map back to the segment's original characters, and a match that
//! touches any byte of a segment masks the whole segment.
//!
//! Words and messages go through the same function, so a word matches exactly where its
//! normalised form occurs in the message's normalised form.

use unicode_normalization::char::{canonical_combining_class, decompose_compatible};
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// How text is normalised; the same options apply to words and to messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NormaliseOptions {
    pub ignore_separators: bool,
}

/// One segment of the original text that produced at least one normalised byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub normalised_start: usize,
    pub normalised_end: usize,
    pub original_start: usize,
    pub original_end: usize,
}

/// Appends the normalised form of `text` to `normalised`. With `segments`, also records
/// where each non-empty piece of the output came from, in order; the caller asks for them
/// only when it is going to mask, so the common clean path allocates no map.
pub(crate) fn normalise_into(
    text: &str,
    options: NormaliseOptions,
    normalised: &mut String,
    mut segments: Option<&mut Vec<Segment>>,
) {
    let mut segment_start = 0;
    let mut push_segment = |start: usize, end: usize, normalised: &mut String| {
        let normalised_start = normalised.len();
        push_normalised_segment(&text[start..end], options, normalised);
        if let Some(segments) = segments.as_deref_mut() {
            if normalised.len() > normalised_start {
                segments.push(Segment {
                    normalised_start,
                    normalised_end: normalised.len(),
                    original_start: start,
                    original_end: end,
                });
            }
        }
    };
    for (index, character) in text.char_indices() {
        if index > segment_start && starts_segment(character) {
            push_segment(segment_start, index, normalised);
            segment_start = index;
        }
    }
    if segment_start < text.len() {
        push_segment(segment_start, text.len(), normalised);
    }
}

/// The normalised form of `text`.
#[cfg(test)]
pub(crate) fn normalise(text: &str, options: NormaliseOptions) -> String {
    let mut normalised = String::with_capacity(text.len());
    normalise_into(text, options, &mut normalised, None);
    normalised
}

/// Whether NFKC can never join `character` to what precedes it, so that a segment may
/// start here.
///
/// That holds when the first character of its compatibility decomposition is a starter
/// (combining class 0) that cannot compose with a preceding character (its NFKC quick
/// check is not `Maybe`). Looking at the decomposition, not the character itself,
/// matters for compatibility characters such as U+3161 HANGUL LETTER EU, which becomes a
/// medial vowel jamo that composes with a preceding leading consonant.
fn starts_segment(character: char) -> bool {
    if character.is_ascii() {
        return true;
    }
    if canonical_combining_class(character) != 0 {
        return false;
    }
    let mut first_decomposed = None;
    decompose_compatible(character, |decomposed| {
        first_decomposed.get_or_insert(decomposed);
    });
    let first_decomposed = first_decomposed.unwrap_or(character);
    canonical_combining_class(first_decomposed) == 0
        && is_nfkc_quick(std::iter::once(first_decomposed)) != IsNormalized::Maybe
}

fn push_normalised_segment(segment: &str, options: NormaliseOptions, normalised: &mut String) {
    let mut characters = segment.chars();
    if let (Some(only), None) = (characters.next(), characters.next()) {
        // Most segments are one character already in NFKC (ASCII, CJK ideographs): skip
        // the normaliser's buffers for them.
        if only.is_ascii() || is_nfkc_quick(std::iter::once(only)) == IsNormalized::Yes {
            push_folded(only, options, normalised);
            return;
        }
    }
    for character in segment.nfkc() {
        push_folded(character, options, normalised);
    }
}

/// Applies the per-character steps after NFKC: drop invisible characters (and
/// separators if asked), then lowercase.
fn push_folded(character: char, options: NormaliseOptions, normalised: &mut String) {
    if is_invisible(character) || (options.ignore_separators && is_separator(character)) {
        return;
    }
    if character.is_ascii() {
        normalised.push(character.to_ascii_lowercase());
    } else {
        normalised.extend(character.to_lowercase());
    }
}

/// Unicode's Default_Ignorable_Code_Point set: zero-width spaces and joiners, soft
/// hyphen, bidi controls, variation selectors, fillers, tags. They render as nothing, so
/// `b\u{200B}ad` must not slip past `bad`; they are always dropped.
pub(crate) fn is_invisible(character: char) -> bool {
    matches!(
        character,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// What `ignore_separators` drops, checked after NFKC (which already turns full-width
/// punctuation into ASCII): Unicode white space, ASCII punctuation and symbols, the
/// Latin-1 punctuation and symbols, General Punctuation (dashes, quotes, bullets,
/// ellipsis), and CJK punctuation (ideographic comma and full stop, corner and angle
/// brackets, the katakana middle dot).
pub(crate) fn is_separator(character: char) -> bool {
    character.is_whitespace()
        || character.is_ascii_punctuation()
        || matches!(
            character,
            '\u{00A1}'..='\u{00BF}'
                | '\u{00D7}'
                | '\u{00F7}'
                | '\u{2010}'..='\u{205E}'
                | '\u{3001}'..='\u{3003}'
                | '\u{3008}'..='\u{3011}'
                | '\u{3014}'..='\u{301F}'
                | '\u{30FB}'
        )
}
