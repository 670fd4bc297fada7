#![cfg(not(target_arch = "wasm32"))]
//! The WordPiece tokenizer against Hugging Face's: the ids and token types their `tokenizers`
//! library gives (`scripts/tokenizer-fixtures`, checked in) on sentences with accents,
//! punctuation, unknown words, CJK and control characters and pairs cut by `longest_first`,
//! read from the vocab.txt and from the tokenizer.json that library saved; the special tokens
//! found by their strings; and one-line errors for files that are neither format.

use sampa::text::tokenizer::WordPieces;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/wordpiece")
        .join(name)
}

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("cases.json"))
        .expect("tests/fixtures/wordpiece/cases.json: run scripts/tokenizer-fixtures");
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.len(), 16, "the fixture's cases");
    cases
}

fn ints(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Every case whose casing `file` can express gives Hugging Face's ids and types, padded with
/// `[PAD]` (id 3 in this vocabulary, not BERT's usual 0) to `--max-len`.
fn check(file: &str, cased_too: bool) -> usize {
    let mut checked = 0;
    for case in cases() {
        let cased = case["cased"].as_bool().unwrap();
        if cased && !cased_too {
            continue;
        }
        let max_len = case["max_len"].as_u64().unwrap() as usize;
        let tok = WordPieces::load(&fixture(file), cased, max_len).unwrap();
        assert_eq!(tok.pad_id(), 3);
        assert_eq!(tok.vocab_size(), 56);
        let (a, b) = (case["a"].as_str().unwrap(), case["b"].as_str());
        let enc = tok.encode(a, b).unwrap();
        let (ids, types) = (ints(&case["ids"]), ints(&case["types"]));
        let what = format!("{file}: {a:?} / {b:?} (cased {cased}, max_len {max_len})");
        assert_eq!(enc.len, ids.len(), "{what}");
        assert_eq!(&enc.ids[..enc.len], &ids[..], "{what}");
        assert_eq!(&enc.types[..enc.len], &types[..], "{what}");
        assert_eq!(enc.ids.len(), max_len, "{what}");
        assert!(enc.ids[enc.len..].iter().all(|&id| id == 3), "{what}");
        assert!(enc.types[enc.len..].iter().all(|&t| t == 0), "{what}");
        checked += 1;
    }
    checked
}

#[test]
fn vocab_txt_gives_hugging_faces_ids() {
    assert_eq!(check("vocab.txt", true), 16);
}

#[test]
fn tokenizer_json_gives_hugging_faces_ids() {
    assert_eq!(check("tokenizer.json", false), 14);
}

#[test]
fn the_fixture_covers_what_it_claims() {
    // Hand-read expectations of the fixture itself, so a regenerated fixture that lost a case
    // fails here: [CLS] = 42, [SEP] = 1, [UNK] = 9; "Café" is "cafe" uncased, "Caf ##é" cased;
    // a pair over --max-len 10 cuts the longer sentence only.
    let cases = cases();
    let ids = |k: usize| ints(&cases[k]["ids"]);
    assert_eq!(ids(1)[..2], [42, 11]);
    assert_eq!(ids(2)[..3], [42, 39, 40]);
    assert_eq!(ids(4)[1], 9);
    // "one two three four five one two three four five" / "short one" at 10 pieces:
    // [CLS] one two three four five [SEP] short one [SEP].
    assert_eq!(ids(10), [42, 51, 52, 53, 54, 55, 1, 50, 51, 1]);
    assert_eq!(ints(&cases[10]["types"]), [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
}

#[test]
fn unreadable_tokenizer_files_are_one_line_errors() {
    let dir = std::env::temp_dir().join(format!("sampa-tokenizer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let err =
        |path: &Path, cased: bool, max_len: usize| match WordPieces::load(path, cased, max_len) {
            Ok(_) => panic!("{} loaded", path.display()),
            Err(e) => e.to_string(),
        };
    let cases: [(PathBuf, bool, usize, &[&str]); 7] = [
        (
            write("image.png", &[0x89, b'P', b'N', b'G', 0xff, 0xfe]),
            false,
            128,
            &[
                "image.png",
                "neither a Hugging Face tokenizer.json nor a BERT vocab.txt",
                "UTF-8",
            ],
        ),
        (
            write("words.txt", b"[CLS]\n[SEP]\ntwo words\n"),
            false,
            128,
            &["words.txt", "line 3", "\"two words\" is not one word piece"],
        ),
        (
            write("nounk.txt", b"[CLS]\n[SEP]\n[PAD]\nthe\n"),
            false,
            128,
            &["nounk.txt", "no [UNK] line"],
        ),
        (
            write("broken.json", b"{\"model\": 3}"),
            false,
            128,
            &["broken.json", "not a Hugging Face tokenizer.json"],
        ),
        (
            fixture("tokenizer.json"),
            true,
            128,
            &["--cased applies to a vocab.txt only"],
        ),
        (
            fixture("vocab.txt"),
            false,
            4,
            &["--max-len 4", "at least 5"],
        ),
        (
            dir.join("missing.txt"),
            false,
            128,
            &["missing.txt", "cannot read it"],
        ),
    ];
    for (path, cased, max_len, wanted) in cases {
        let message = err(&path, cased, max_len);
        assert!(!message.contains('\n'), "{message}");
        for w in wanted {
            assert!(message.contains(w), "{message:?} lacks {w:?}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
