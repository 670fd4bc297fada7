//! Tokenized text examples, as BERT reads them: each example's word-piece ids and where its
//! second sentence starts. A batch lays each example out as one `Act::Text` row of `3·tokens`
//! values: the ids padded with `[PAD]` to `tokens`, the token types (0 up to the second
//! sentence, 1 from it, 0 on padding), and the attention mask (1 on the tokens, 0 on padding),
//! as Hugging Face's `input_ids`, `token_type_ids` and `attention_mask`.

use crate::error::{Error, Result};

/// The tokenized examples of one split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextRows {
    /// Tokens per example, padding included (`--max-len`).
    pub tokens: usize,
    /// The tokenizer's ids, the rows of the word embeddings.
    pub vocab: usize,
    /// `[PAD]`'s id.
    pub pad: u32,
    /// Every example's ids (without padding), one after another.
    pub ids: Vec<u32>,
    /// Example i's ids are `ids[starts[i]..starts[i + 1]]`.
    pub starts: Vec<usize>,
    /// Where example i's second sentence starts (its length when it has none).
    pub second: Vec<u32>,
}

impl TextRows {
    /// No examples yet, for `tokens` per example of a `vocab`-id tokenizer padding with `pad`.
    pub fn new(tokens: usize, vocab: usize, pad: u32) -> TextRows {
        TextRows {
            tokens,
            vocab,
            pad,
            ids: Vec::new(),
            starts: vec![0],
            second: Vec::new(),
        }
    }

    /// Add an example: its `ids` and the token types Hugging Face's tokenizer gave them (0s,
    /// then 1s from the second sentence).
    pub fn push(&mut self, ids: &[u32], types: &[u32]) -> Result<()> {
        let bad = |what: String| Err(Error::Invalid(format!("a tokenized example {what}")));
        if ids.len() > self.tokens || ids.len() != types.len() {
            return bad(format!(
                "has {} ids and {} types for {} tokens",
                ids.len(),
                types.len(),
                self.tokens
            ));
        }
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.vocab) {
            return bad(format!("has id {id}, past the vocabulary's {}", self.vocab));
        }
        let second = types.iter().position(|&t| t == 1).unwrap_or(ids.len());
        if types[second..].iter().any(|&t| t != 1) || types[..second].iter().any(|&t| t != 0) {
            return bad(format!("has token types {types:?}, not 0s then 1s"));
        }
        self.ids.extend_from_slice(ids);
        self.starts.push(self.ids.len());
        self.second.push(second as u32);
        Ok(())
    }

    /// Examples held.
    pub fn len(&self) -> usize {
        self.second.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.second.is_empty()
    }

    /// Write example `i`'s row (`3·tokens` values) into `dst`.
    pub fn row(&self, i: usize, dst: &mut [f32]) {
        let t = self.tokens;
        let ids = &self.ids[self.starts[i]..self.starts[i + 1]];
        let (len, second) = (ids.len(), self.second[i] as usize);
        for j in 0..t {
            dst[j] = ids.get(j).map_or(self.pad, |&id| id) as f32;
            dst[t + j] = (j >= second && j < len) as u32 as f32;
            dst[2 * t + j] = (j < len) as u32 as f32;
        }
    }

    /// The examples `keep`, in that order.
    pub fn select(&self, keep: &[usize]) -> TextRows {
        let mut out = TextRows::new(self.tokens, self.vocab, self.pad);
        for &i in keep {
            out.ids
                .extend_from_slice(&self.ids[self.starts[i]..self.starts[i + 1]]);
            out.starts.push(out.ids.len());
            out.second.push(self.second[i]);
        }
        out
    }

    /// Feed every id, boundary and size to `h` (the data's fingerprint).
    pub fn fingerprint(&self, h: &mut crc32fast::Hasher) {
        h.update(&(self.tokens as u64).to_le_bytes());
        h.update(&(self.vocab as u64).to_le_bytes());
        h.update(&self.pad.to_le_bytes());
        h.update(bytemuck::cast_slice(&self.ids));
        for s in &self.starts {
            h.update(&(*s as u64).to_le_bytes());
        }
        h.update(bytemuck::cast_slice(&self.second));
    }
}
