//! What a resumed run may change of its settings, and the check that it changed nothing else:
//! every other setting shaped the checkpoint.

use super::config::TrainConfig;

/// The settings a resumed run may change: how long it runs, on which adapters with how many
/// decoding threads, and where its data and directory now are (the data itself must be the same: its fingerprint is checked).
/// Every other setting shaped the checkpoint, so a resume must keep it.
pub const RESUMABLE: [&str; 7] = [
    "epochs", "steps", "adapter", "adapter2", "data", "out", "workers",
];

impl TrainConfig {
    /// The first setting outside [`RESUMABLE`] in which `self` differs from `recorded` (a
    /// config as JSON, as a checkpoint records it): its name, then the recorded value and
    /// this one's.
    pub fn differs_from(&self, recorded: &serde_json::Value) -> Option<(String, String, String)> {
        // Through the text form, as the checkpoint holds it: an f32 read back from JSON is
        // the shortest decimal (0.05), while to_value widens it (0.05000000074505806).
        let text = serde_json::to_string(self).expect("a config serialises");
        let mine: serde_json::Value = serde_json::from_str(&text).expect("a config parses");
        // A checkpoint written before a setting existed lacks it: read that setting as its
        // default (the build that wrote it had no other), the same way config.json is read.
        let filled = serde_json::from_value::<TrainConfig>(recorded.clone())
            .ok()
            .and_then(|c| serde_json::to_string(&c).ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let recorded = filled.as_ref().unwrap_or(recorded);
        let (serde_json::Value::Object(mine), serde_json::Value::Object(theirs)) =
            (&mine, recorded)
        else {
            return Some((
                "(the whole configuration)".into(),
                recorded.to_string(),
                mine.to_string(),
            ));
        };
        let null = serde_json::Value::Null;
        let mut keys: Vec<&String> = mine.keys().chain(theirs.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| !RESUMABLE.contains(&k.as_str()))
            .find(|k| mine.get(*k).unwrap_or(&null) != theirs.get(*k).unwrap_or(&null))
            .map(|k| {
                let value = |m: &serde_json::Map<String, serde_json::Value>| {
                    m.get(k).unwrap_or(&null).to_string()
                };
                (k.clone(), value(theirs), value(mine))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Train {
        #[command(flatten)]
        config: TrainConfig,
    }

    #[test]
    fn a_checkpoint_from_before_a_setting_existed_reads_it_as_its_default() {
        let config = Train::parse_from(["train", "--momentum", "0.9"]).config;
        let mut old = serde_json::to_value(&config).unwrap();
        // What the build before the base optimizers wrote: no base, betas, eps or clip, no
        // warm-up or step-schedule settings.
        for key in ["warmup_steps", "lr_milestones", "lr_gamma"] {
            old.as_object_mut().unwrap().remove(key);
        }
        let optimizer = old["optimizer"].as_object_mut().unwrap();
        for key in ["base", "betas", "eps", "clip_norm"] {
            optimizer.remove(key);
        }
        assert_eq!(config.differs_from(&old), None);
        // A setting that was recorded and differs is still found.
        let mut adamw = Train::parse_from(["train", "--base", "adamw"]).config;
        adamw.momentum = config.momentum;
        let (field, was, now) = adamw.differs_from(&old).unwrap();
        assert_eq!(
            (field.as_str(), was.contains("sgd"), now.contains("adamw")),
            ("optimizer", true, true)
        );
    }

    #[test]
    fn an_earlier_builds_image_size_resizes_image_folders_only() {
        // Earlier builds recorded `"image_size": 32` for every run (image folders only were
        // resized): such a run resumes with IDX and CIFAR images at their own size.
        let config = Train::parse_from(["train"]).config;
        let mut old = serde_json::to_value(&config).unwrap();
        let fields = old.as_object_mut().unwrap();
        fields.remove("resize_images");
        fields.insert("image_size".into(), 64.into());
        let read: TrainConfig = serde_json::from_value(old.clone()).unwrap();
        assert_eq!((read.image_size, read.folder_size), (None, Some(64)));
        assert_eq!(config.differs_from(&old), None);
        // This build writes its own setting, never the old one.
        let resized = Train::parse_from(["train", "--image-size", "32"]).config;
        let text = serde_json::to_string(&resized).unwrap();
        assert!(text.contains("\"resize_images\":32") && !text.contains("image_size"));
    }
}
