//! A procedural story world: the demo's built-in data, generated, so that genpt ships no one
//! else's text.
//!
//! The world has 48 characters with fixed latent facts (home town, favourite thing, pet, fear),
//! each value held by equally many characters. Stories state those facts in several phrasings
//! among everyday events; they tell of every character. The labeled tasks, of the paper's four
//! kinds, turn on the characters' home towns, and their training sets are about one half of the
//! characters while the dev sets are about the other half ([`Cast`]): no dev fact can be learned
//! from labeled data, only from the stories. So a model fine-tuned from random weights is at
//! chance on dev, and what a pre-trained model scores above chance is what pre-training taught it.
//! - classification: "one day X went to the market." → X's town (six classes);
//! - entailment: "X's home is in" ⊨ "Y lives in" [the same town]?
//! - similarity: do "X's home is in" and "Y's home is in" say the same (the same town)?
//! - multiple choice: "X's home is in", four answers "Y_k's home is in": whose town is X's?
//!
//! The texts end where an LM that knows the world would name the town, which is what lets a small
//! pre-trained model's classify-token state carry it (docs/evidence.md, "Task designs tried", has the designs
//! tried: statements to be judged true or false, for example, stayed at chance even when
//! pre-trained). The zero-shot task ("endings") picks which of four statements about a
//! character is true, by LM log-probability alone.

use crate::rng::Draws;

const NAMES: &[&str] = &[
    "mira", "tobin", "elsa", "corin", "ada", "bram", "lena", "odo", "pia", "rufus", "sela", "timo",
    "una", "vero", "wren", "yara", "zeb", "nola", "ivo", "kasia", "lio", "mabel", "nico", "orla",
    "pax", "quin", "rhea", "silas", "tess", "ulric", "alba", "bodo", "cleo", "dario", "edda",
    "falk", "gus", "hana", "ines", "jory", "kurt", "lotte", "milo", "nell", "otto", "petra",
    "rosa", "sven",
];
const TOWNS: &[&str] = &[
    "oakdale",
    "riverton",
    "stonebridge",
    "millbrook",
    "ashford",
    "kelmouth",
];
const THINGS: &[&str] = &["kites", "apples", "songs", "boats", "books", "lanterns"];
const PETS: &[&str] = &["cat", "dog", "goat", "parrot", "hedgehog", "rabbit"];
const FEARS: &[&str] = &[
    "thunder", "darkness", "water", "ladders", "spiders", "bells",
];
const PLACES: &[&str] = &[
    "the market",
    "the harbor",
    "the old mill",
    "the orchard",
    "the library",
    "the square",
];
const WEATHER: &[&str] = &[
    "it was raining",
    "the sun was bright",
    "a cold wind blew",
    "fog covered the hills",
];

/// The four kinds of latent fact, each with six values. Every value is held by the same number of
/// characters, so that guessing the most common value is no better than chance.
pub const FACT_KINDS: usize = 4;
const VALUES: [&[&str]; FACT_KINDS] = [TOWNS, THINGS, PETS, FEARS];

/// One character's latent facts: an index into each kind's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Character {
    pub name: usize,
    pub facts: [usize; FACT_KINDS],
}

pub struct World {
    pub characters: Vec<Character>,
}

/// A labeled example of any kind; fields as the fine-tuning transformations need them, with the
/// facts (character, fact kind) its label depends on.
#[derive(Debug, Clone, PartialEq)]
pub enum DemoExample {
    /// `label` is one of `n_classes`.
    Classify {
        text: String,
        label: usize,
        n_classes: usize,
    },
    Entail {
        premise: String,
        hypothesis: String,
        label: usize,
    },
    Similar {
        a: String,
        b: String,
        label: usize,
    },
    Choose {
        context: String,
        answers: Vec<String>,
        label: usize,
    },
}

/// The name of each class of a demo task (none for multiple choice, whose answers are indices).
pub fn label_names(task: &str) -> Vec<String> {
    let names: &[&str] = match task {
        "classification" => TOWNS,
        "entailment" => &["not_entailment", "entailment"],
        "similarity" => &["different", "same"],
        _ => &[],
    };
    names.iter().map(|n| n.to_string()).collect()
}

/// Which characters a labeled set may use: the labeled training sets see one half of the
/// characters, the dev sets only the other half, so that no dev fact can be learned from the
/// labeled data; only pre-training on the stories (which tell of everyone) can teach them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cast {
    Train,
    Dev,
}

fn pick<'a>(d: &mut Draws, items: &[&'a str]) -> &'a str {
    items[d.below(items.len() as u64) as usize]
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut d = Draws::new(seed, 0xe01d);
        // For each kind and each cast (even and odd positions), every value for the same number
        // of characters, in a random order: 24 characters a cast, 4 a value.
        let mut characters: Vec<Character> = (0..NAMES.len())
            .map(|name| Character {
                name,
                facts: [0; FACT_KINDS],
            })
            .collect();
        for (kind, values) in VALUES.iter().enumerate() {
            for parity in 0..2 {
                let members: Vec<usize> = (parity..NAMES.len()).step_by(2).collect();
                let mut column: Vec<usize> = (0..members.len()).map(|i| i % values.len()).collect();
                for i in (1..column.len()).rev() {
                    column.swap(i, d.below(i as u64 + 1) as usize);
                }
                for (&m, v) in members.iter().zip(column) {
                    characters[m].facts[kind] = v;
                }
            }
        }
        Self { characters }
    }

    /// The characters a labeled set of `cast` draws from: even positions for training, odd for dev.
    pub fn cast(&self, cast: Cast) -> Vec<&Character> {
        let parity = usize::from(cast == Cast::Dev);
        self.characters
            .iter()
            .filter(|c| c.name % 2 == parity)
            .collect()
    }

    pub fn name(c: &Character) -> &'static str {
        NAMES[c.name]
    }

    /// A statement that `name` has value `value` of fact `kind`, in one of three phrasings.
    fn statement(name: &str, kind: usize, value: usize, phrasing: usize) -> String {
        let v = VALUES[kind][value];
        match (kind, phrasing % 3) {
            (0, 0) => format!("{name} lives in {v}."),
            (0, 1) => format!("{name}'s home is in {v}."),
            (0, _) => format!("{name} grew up in {v}."),
            (1, 0) => format!("{name} loves {v}."),
            (1, 1) => format!("{name} is fond of {v}."),
            (1, _) => format!("nothing makes {name} happier than {v}."),
            (2, 0) => format!("{name} has a {v}."),
            (2, 1) => format!("{name} takes care of a {v}."),
            (2, _) => format!("{name} walks every day with a {v}."),
            (_, 0) => format!("{name} is afraid of {v}."),
            (_, 1) => format!("{name} fears {v}."),
            (_, _) => format!("{name} hides from {v}."),
        }
    }

    /// A true statement about `c`.
    fn fact(c: &Character, kind: usize, phrasing: usize) -> String {
        Self::statement(NAMES[c.name], kind, c.facts[kind], phrasing)
    }

    /// Another character of `people` who shares `c`'s town when `same`, and does not otherwise.
    fn partner(people: &[&Character], c: &Character, same: bool, d: &mut Draws) -> &'static str {
        let candidates: Vec<&&Character> = people
            .iter()
            .filter(|o| o.name != c.name && (o.facts[0] == c.facts[0]) == same)
            .collect();
        NAMES[candidates[d.below(candidates.len() as u64) as usize].name]
    }

    /// A short story: mostly facts about one or two characters, told in varied phrasings, with
    /// everyday events between them.
    pub fn story(&self, d: &mut Draws) -> String {
        let c = &self.characters[d.below(self.characters.len() as u64) as usize];
        let friend = &self.characters[d.below(self.characters.len() as u64) as usize];
        let n = NAMES[c.name];
        let mut sentences = vec![Self::fact(c, d.below(4) as usize, d.below(3) as usize)];
        for _ in 0..(3 + d.below(4)) {
            sentences.push(match d.below(8) {
                0 => format!(
                    "one day {n} went to {} with {}.",
                    pick(d, PLACES),
                    NAMES[friend.name]
                ),
                1 => format!(
                    "{}, so {n} stayed near {}.",
                    pick(d, WEATHER),
                    pick(d, PLACES)
                ),
                2 => Self::fact(friend, d.below(4) as usize, d.below(3) as usize),
                _ => Self::fact(c, d.below(4) as usize, d.below(3) as usize),
            });
        }
        sentences.join(" ")
    }

    /// `n` stories joined by blank lines: the pre-training corpus.
    pub fn corpus(&self, n: usize, seed: u64) -> String {
        let mut d = Draws::new(seed, 0xc0);
        (0..n)
            .map(|_| self.story(&mut d))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// `n` labeled examples of `task` (classification, entailment, similarity, choice) about the
    /// characters of `cast`, with the (character, fact kind) each label depends on. Labels are
    /// balanced.
    pub fn task(
        &self,
        task: &str,
        n: usize,
        cast: Cast,
        seed: u64,
    ) -> Vec<(DemoExample, (usize, usize))> {
        let mut d = Draws::new(seed, 0x7a5c);
        let people = self.cast(cast);
        (0..n)
            .map(|i| {
                let c = people[d.below(people.len() as u64) as usize];
                let kind = d.below(FACT_KINDS as u64) as usize;
                let label = i % 2;
                let name = NAMES[c.name];
                let place = pick(&mut d, PLACES);
                let example = match task {
                    // Where does the character of the sentence live? (six towns)
                    "classification" => DemoExample::Classify {
                        text: format!("one day {name} went to {place}."),
                        label: c.facts[0],
                        n_classes: TOWNS.len(),
                    },
                    // Premise "X's home is in [X's town]"; hypothesis "Y lives in [that town]":
                    // entailed when the two share a town. Both texts end where an LM that knows
                    // the world would name the town.
                    "entailment" => {
                        let other = Self::partner(&people, c, label == 1, &mut d);
                        DemoExample::Entail {
                            premise: format!("{name}'s home is in"),
                            hypothesis: format!("{other} lives in"),
                            label,
                        }
                    }
                    // Two cloze sentences, each ending where the town would be named: do they say
                    // the same, that is, do the two characters share a town?
                    "similarity" => {
                        let other = Self::partner(&people, c, label == 1, &mut d);
                        DemoExample::Similar {
                            a: format!("{name}'s home is in"),
                            b: format!("{other}'s home is in"),
                            label,
                        }
                    }
                    // Four characters: whose home is in the same town as this one's?
                    "choice" => {
                        let right = d.below(4) as usize;
                        let same = Self::partner(&people, c, true, &mut d);
                        let mut others: Vec<&str> = Vec::new();
                        while others.len() < 3 {
                            let o = Self::partner(&people, c, false, &mut d);
                            if !others.contains(&o) {
                                others.push(o);
                            }
                        }
                        let answers = (0..4)
                            .map(|k| {
                                format!(
                                    "{}'s home is in",
                                    if k == right {
                                        same
                                    } else {
                                        others.pop().unwrap()
                                    }
                                )
                            })
                            .collect();
                        DemoExample::Choose {
                            context: format!("{name}'s home is in"),
                            answers,
                            label: right,
                        }
                    }
                    // The zero-shot task: four endings, of which the right one states the character's real
                    // fact.
                    _ => {
                        let right = d.below(4) as usize;
                        let mut others: Vec<usize> = (0..VALUES[kind].len())
                            .filter(|&v| v != c.facts[kind])
                            .collect();
                        let answers = (0..4)
                            .map(|k| {
                                let v = if k == right {
                                    c.facts[kind]
                                } else {
                                    others.remove(d.below(others.len() as u64) as usize)
                                };
                                Self::statement(name, kind, v, 0)
                            })
                            .collect();
                        let context = format!(
                            "one day {name} went to {place}. {}, so {name} stayed near {}.",
                            pick(&mut d, WEATHER),
                            pick(&mut d, PLACES)
                        );
                        DemoExample::Choose {
                            context,
                            answers,
                            label: right,
                        }
                    }
                };
                // Every fine-tuning task turns on home towns; the zero-shot endings on any fact.
                (example, (c.name, if task == "endings" { kind } else { 0 }))
            })
            .collect()
    }
}

impl World {
    /// Every fact as a recall question for an LM: for each character and kind, the statements of
    /// all the kind's values, and which one is true.
    pub fn recall_questions(&self) -> Vec<(&Character, Vec<String>, usize)> {
        let mut out = Vec::new();
        for c in &self.characters {
            for (kind, values) in VALUES.iter().enumerate() {
                let statements = (0..values.len())
                    .map(|v| Self::statement(NAMES[c.name], kind, v, 0))
                    .collect();
                out.push((c, statements, c.facts[kind]));
            }
        }
        out
    }
}

/// The share of `dev`'s facts (character, kind) that also appear in `train`.
pub fn fact_overlap(
    train: &[(DemoExample, (usize, usize))],
    dev: &[(DemoExample, (usize, usize))],
) -> f64 {
    let seen: std::collections::HashSet<(usize, usize)> = train.iter().map(|(_, f)| *f).collect();
    dev.iter().filter(|(_, f)| seen.contains(f)).count() as f64 / dev.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_balanced_and_consistent() {
        let world = World::new(1);
        assert_eq!(world.corpus(5, 2), World::new(1).corpus(5, 2));
        // Each value of each kind is held by exactly 24 / 6 = 4 characters of each cast.
        for cast in [Cast::Train, Cast::Dev] {
            for (kind, values) in VALUES.iter().enumerate() {
                for value in 0..values.len() {
                    assert_eq!(
                        world
                            .cast(cast)
                            .iter()
                            .filter(|c| c.facts[kind] == value)
                            .count(),
                        4
                    );
                }
            }
        }
        let c = world.characters[0];
        for p in 0..3 {
            assert!(World::fact(&c, 0, p).contains(TOWNS[c.facts[0]]));
        }
        for task in ["classification", "entailment", "similarity", "choice"] {
            let train = world.task(task, 40, Cast::Train, 3);
            let dev = world.task(task, 40, Cast::Dev, 4);
            assert_eq!(train.len(), 40, "{task}");
            assert!(
                train.iter().all(|(_, (name, _))| name % 2 == 0),
                "{task}: training examples use the training cast"
            );
            assert!(
                dev.iter().all(|(_, (name, _))| name % 2 == 1),
                "{task}: dev examples use the dev cast"
            );
            assert_eq!(fact_overlap(&train, &dev), 0.0);
        }
        // Classification labels are the character's town; entailment and similarity labels say
        // whether the two characters share one.
        let town =
            |name: &str| world.characters[NAMES.iter().position(|n| *n == name).unwrap()].facts[0];
        for (example, (name, _)) in world.task("classification", 20, Cast::Train, 5) {
            let DemoExample::Classify {
                label, n_classes, ..
            } = example
            else {
                panic!()
            };
            assert_eq!((label, n_classes), (world.characters[name].facts[0], 6));
        }
        for (example, _) in world.task("entailment", 20, Cast::Dev, 6) {
            let DemoExample::Entail {
                premise,
                hypothesis,
                label,
            } = example
            else {
                panic!()
            };
            let first = |t: &str| t.split(['\'', ' ']).next().unwrap().to_string();
            assert_eq!(
                usize::from(town(&first(&premise)) == town(&first(&hypothesis))),
                label,
                "{premise} / {hypothesis}"
            );
        }
        for (example, _) in world.task("similarity", 20, Cast::Train, 7) {
            let DemoExample::Similar { a, b, label } = example else {
                panic!()
            };
            let who = |t: &str| t.split('\'').next().unwrap().to_string();
            assert_eq!(
                usize::from(town(&who(&a)) == town(&who(&b))),
                label,
                "{a} / {b}"
            );
        }
        match &world.task("choice", 1, Cast::Dev, 3)[0].0 {
            DemoExample::Choose { answers, label, .. } => {
                assert_eq!(answers.len(), 4);
                assert!(*label < 4);
                let mut unique = answers.clone();
                unique.sort();
                unique.dedup();
                assert_eq!(unique.len(), 4, "answers differ");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            fact_overlap(
                &world.task("classification", 10, Cast::Train, 1),
                &world.task("classification", 10, Cast::Train, 1)
            ),
            1.0
        );
    }

    #[test]
    fn every_task_can_be_drawn_for_many_worlds() {
        // Pair and choice tasks need partners that share (or do not share) a town in the same
        // cast; the balanced assignment guarantees them for every seed.
        for seed in 1..=30 {
            let world = World::new(seed);
            for task in [
                "classification",
                "entailment",
                "similarity",
                "choice",
                "endings",
            ] {
                for cast in [Cast::Train, Cast::Dev] {
                    assert_eq!(world.task(task, 50, cast, seed).len(), 50);
                }
            }
        }
    }
}
