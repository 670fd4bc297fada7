//! BERT's WordPiece tokenizer, through Hugging Face's own `tokenizers` crate so that sampa's
//! ids are the ones their tools give.
//!
//! `--tokenizer FILE` takes either format a BERT checkpoint comes with:
//! - a `tokenizer.json`, which carries its own normaliser, pre-tokenizer and special-token
//!   template;
//! - a `vocab.txt`, one word piece per line (a piece's id is its line), built here as the
//!   `tokenizers` library's `BertWordPieceTokenizer` builds it: Bert's normaliser (control
//!   characters removed, whitespace unified, CJK characters split apart, lower-cased with
//!   accents stripped unless `cased`), Bert's pre-tokenizer (whitespace and punctuation),
//!   WordPiece with `##` continuations and `[UNK]`, and `[CLS] a [SEP] b [SEP]`.
//!
//! Special tokens are found by their strings (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`), never by
//! fixed ids. Every example is padded with `[PAD]` to the same length, `max_len` word pieces
//! counting the special ones; a longer one is cut with the longer sentence losing its last piece
//! first (Hugging Face's `longest_first`).

use crate::error::{Error, Result};
use std::path::Path;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{AddedToken, Tokenizer, TruncationParams, TruncationStrategy};

/// The largest tokenizer file read: BERT's vocabularies take a few hundred kilobytes, the
/// largest multilingual `tokenizer.json` files a few tens of megabytes.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// The special tokens a BERT classifier's input needs, looked up by these strings.
const SPECIAL: [&str; 4] = ["[CLS]", "[SEP]", "[PAD]", "[UNK]"];

/// A loaded tokenizer and the length it pads to.
pub struct WordPieces {
    inner: Tokenizer,
    pad: u32,
    max_len: usize,
    source: String,
}

/// One example as BERT takes it: `max_len` ids, their token types (0 for the first sentence
/// and its `[CLS]` and `[SEP]`, 1 for the second and its `[SEP]`), and how many are real
/// tokens, the rest being `[PAD]` (Hugging Face's attention mask is 1 before `len`, 0 after).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids, padded with `[PAD]`'s.
    pub ids: Vec<u32>,
    /// Token types, 0 on padding.
    pub types: Vec<u32>,
    /// Tokens before the padding.
    pub len: usize,
}

impl WordPieces {
    /// Reads `path`, a `tokenizer.json` or a `vocab.txt`, for examples of `max_len` word
    /// pieces. `cased` keeps case and accents, and applies to a `vocab.txt` only: a
    /// `tokenizer.json` states its own normaliser.
    pub fn load(path: &Path, cased: bool, max_len: usize) -> Result<WordPieces> {
        let shown = path.display();
        let size = std::fs::metadata(path)
            .map_err(|e| Error::Invalid(format!("--tokenizer {shown}: cannot read it: {e}")))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(Error::Invalid(format!(
                "--tokenizer {shown}: {size} bytes, more than any BERT tokenizer file (at most \
                 {MAX_FILE_BYTES}); pass the checkpoint's tokenizer.json or vocab.txt"
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Invalid(format!("--tokenizer {shown}: cannot read it: {e}")))?;
        let json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let inner = if json {
            if cased {
                return Err(Error::Invalid(format!(
                    "--tokenizer {shown} is a tokenizer.json, which states its own normaliser; \
                     --cased applies to a vocab.txt only, so drop it"
                )));
            }
            Tokenizer::from_bytes(&bytes).map_err(|e| {
                Error::Invalid(format!(
                    "--tokenizer {shown}: not a Hugging Face tokenizer.json ({e}); pass the \
                     checkpoint's tokenizer.json or its vocab.txt"
                ))
            })?
        } else {
            from_vocab(&shown.to_string(), &bytes, cased)?
        };
        WordPieces::new(inner, max_len, shown.to_string())
    }

    fn new(mut inner: Tokenizer, max_len: usize, source: String) -> Result<WordPieces> {
        let id = |token: &str| {
            inner.token_to_id(token).ok_or_else(|| {
                Error::Invalid(format!(
                    "--tokenizer {source}: it has no {token} token, which BERT's inputs need; \
                     pass a BERT (WordPiece) tokenizer"
                ))
            })
        };
        for token in SPECIAL {
            id(token)?;
        }
        let pad = id("[PAD]")?;
        // [CLS] a [SEP] b [SEP]: three special tokens and a word piece of each sentence.
        if max_len < 5 {
            return Err(Error::Invalid(format!(
                "--max-len {max_len}: too short for [CLS] a [SEP] b [SEP]; use at least 5 (BERT's \
                 fine-tuning uses 128)"
            )));
        }
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                ..TruncationParams::default()
            }))
            .map_err(|e| Error::Invalid(format!("--max-len {max_len}: {e}")))?;
        inner.with_padding(None);
        Ok(WordPieces {
            inner,
            pad,
            max_len,
            source,
        })
    }

    /// The number of ids, the special tokens included: the rows of the word embeddings
    /// unless an `--init` file has more.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The length every example is padded to.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// `[PAD]`'s id, whose word embedding starts at zero.
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// The tokens of `a`, or of the pair `a`, `b`.
    pub fn encode(&self, a: &str, b: Option<&str>) -> Result<Encoded> {
        let encoded = match b {
            Some(b) => self.inner.encode((a, b), true),
            None => self.inner.encode(a, true),
        }
        .map_err(|e| {
            Error::Invalid(format!(
                "--tokenizer {}: cannot tokenize {a:?}: {e}",
                self.source
            ))
        })?;
        let mut ids = encoded.get_ids().to_vec();
        let mut types = encoded.get_type_ids().to_vec();
        let len = ids.len();
        if len > self.max_len {
            return Err(Error::Invalid(format!(
                "--tokenizer {}: {len} tokens for {a:?} where --max-len {} allows fewer; its \
                 post-processor adds more special tokens than BERT's [CLS] and [SEP]",
                self.source, self.max_len
            )));
        }
        ids.resize(self.max_len, self.pad);
        types.resize(self.max_len, 0);
        Ok(Encoded { ids, types, len })
    }
}

/// `BertWordPieceTokenizer` over a `vocab.txt`.
fn from_vocab(shown: &str, bytes: &[u8], cased: bool) -> Result<Tokenizer> {
    let neither = |why: String| {
        Error::Invalid(format!(
            "--tokenizer {shown}: neither a Hugging Face tokenizer.json nor a BERT vocab.txt \
             ({why}); pass the checkpoint's tokenizer.json or vocab.txt"
        ))
    };
    let text = std::str::from_utf8(bytes).map_err(|e| neither(format!("not UTF-8 text: {e}")))?;
    for (line, piece) in text.lines().enumerate() {
        let piece = piece.trim_end();
        if piece.is_empty() || piece.contains(char::is_whitespace) {
            return Err(neither(format!(
                "line {}: {piece:?} is not one word piece",
                line + 1
            )));
        }
    }
    // Hugging Face's own reader: a piece's id is its line; a repeated piece keeps the last.
    let vocab = WordPiece::read_bytes(bytes).map_err(|e| neither(e.to_string()))?;
    let id = |token: &str| {
        vocab
            .get(token)
            .copied()
            .ok_or_else(|| neither(format!("no {token} line")))
    };
    for token in SPECIAL {
        id(token)?;
    }
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    // As BertWordPieceTokenizer: the special tokens the vocabulary has are never split.
    let specials: Vec<AddedToken> = ["[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"]
        .into_iter()
        .filter(|t| vocab.contains_key(*t))
        .map(|t| AddedToken::from(t, true))
        .collect();
    let model = WordPiece::builder()
        .vocab(vocab)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| neither(e.to_string()))?;
    let mut tokenizer = Tokenizer::new(model);
    // clean_text, handle_chinese_chars, strip_accents (None: as lowercase), lowercase.
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(true, true, None, !cased)))
        .map_err(|e| neither(e.to_string()))?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), sep),
        ("[CLS]".into(), cls),
    )));
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| neither(e.to_string()))?;
    Ok(tokenizer)
}
