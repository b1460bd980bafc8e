//! A procedural story world: the demo's built-in data, generated, so that genpt ships no one
//! else's text.
//!
//! The world has characters with fixed latent facts (home town, favourite thing, pet, a fear).
//! Stories mention those facts in many phrasings and mix them with everyday events. Labeled
//! tasks of the paper's four kinds are derived from the same facts, so a model that read the
//! stories during pre-training knows things the small labeled sets alone cannot teach:
//! - classification: is a statement about a character true of the world?
//! - entailment: does a short premise entail, or contradict, a hypothesis?
//! - similarity: do two sentences state the same fact?
//! - multiple choice: a story with its last sentence missing, and four endings of which one
//!   fits the character.

use crate::data::sampler::Draws;

const NAMES: &[&str] = &[
    "mira", "tobin", "elsa", "corin", "ada", "bram", "lena", "odo", "pia", "rufus", "sela", "timo",
    "una", "vero", "wren", "yara", "zeb", "nola", "ivo", "kasia", "lio", "mabel", "nico", "orla",
    "pax", "quin", "rhea", "silas", "tess", "ulric",
];
const TOWNS: &[&str] = &["oakdale", "riverton", "stonebridge", "millbrook", "ashford", "kelmouth"];
const THINGS: &[&str] = &["kites", "apples", "songs", "boats", "books", "lanterns", "puzzles", "bread"];
const PETS: &[&str] = &["a cat", "a dog", "a goat", "a parrot", "a hedgehog", "a rabbit"];
const FEARS: &[&str] = &["thunder", "the dark", "deep water", "tall ladders", "spiders", "loud bells"];
const PLACES: &[&str] = &["the market", "the harbor", "the old mill", "the orchard", "the library", "the square"];
const WEATHER: &[&str] = &["it was raining", "the sun was bright", "a cold wind blew", "fog covered the hills"];

/// One character's latent facts, as indices into the tables above.
#[derive(Debug, Clone, Copy)]
pub struct Character {
    pub name: usize,
    pub town: usize,
    pub thing: usize,
    pub pet: usize,
    pub fear: usize,
}

pub struct World {
    pub characters: Vec<Character>,
}

/// A labeled example of any kind; fields as the fine-tuning transformations need them.
#[derive(Debug, Clone, PartialEq)]
pub enum DemoExample {
    Classify { text: String, label: usize },
    Entail { premise: String, hypothesis: String, label: usize },
    Similar { a: String, b: String, label: usize },
    Choose { context: String, answers: Vec<String>, label: usize },
}

fn pick<'a>(d: &mut Draws, items: &[&'a str]) -> &'a str {
    items[d.below(items.len() as u64) as usize]
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut d = Draws::new(seed, 0xe01d);
        let characters = (0..NAMES.len())
            .map(|name| Character {
                name,
                town: d.below(TOWNS.len() as u64) as usize,
                thing: d.below(THINGS.len() as u64) as usize,
                pet: d.below(PETS.len() as u64) as usize,
                fear: d.below(FEARS.len() as u64) as usize,
            })
            .collect();
        Self { characters }
    }

    /// A true statement about `c`, in one of several phrasings.
    fn fact(c: &Character, kind: usize, phrasing: usize) -> String {
        let n = NAMES[c.name];
        match (kind % 4, phrasing % 3) {
            (0, 0) => format!("{n} lives in {}.", TOWNS[c.town]),
            (0, 1) => format!("{n}'s home is in the town of {}.", TOWNS[c.town]),
            (0, _) => format!("in {} , everyone knows {n}.", TOWNS[c.town]),
            (1, 0) => format!("{n} loves {}.", THINGS[c.thing]),
            (1, 1) => format!("nothing makes {n} happier than {}.", THINGS[c.thing]),
            (1, _) => format!("{n} has always been fond of {}.", THINGS[c.thing]),
            (2, 0) => format!("{n} has {}.", PETS[c.pet]),
            (2, 1) => format!("{n} takes care of {}.", PETS[c.pet]),
            (2, _) => format!("{n} walks every day with {}.", PETS[c.pet]),
            (_, 0) => format!("{n} is afraid of {}.", FEARS[c.fear]),
            (_, 1) => format!("{n} fears {}.", FEARS[c.fear]),
            (_, _) => format!("{n} hides whenever there is talk of {}.", FEARS[c.fear]),
        }
    }

    /// A short story of a few sentences around one or two characters.
    pub fn story(&self, d: &mut Draws) -> String {
        let c = &self.characters[d.below(self.characters.len() as u64) as usize];
        let friend = &self.characters[d.below(self.characters.len() as u64) as usize];
        let n = NAMES[c.name];
        let mut sentences = vec![Self::fact(c, d.below(4) as usize, d.below(3) as usize)];
        for _ in 0..(3 + d.below(4)) {
            sentences.push(match d.below(6) {
                0 => format!("one day {n} went to {} with {}.", pick(d, PLACES), NAMES[friend.name]),
                1 => format!("{}, so {n} stayed near {}.", pick(d, WEATHER), pick(d, PLACES)),
                2 => Self::fact(c, d.below(4) as usize, d.below(3) as usize),
                3 => Self::fact(friend, d.below(4) as usize, d.below(3) as usize),
                4 => format!("{n} told {} a story about {}.", NAMES[friend.name], THINGS[c.thing]),
                _ => format!("at {} , {n} bought some {} for {}.", pick(d, PLACES), THINGS[c.thing], PETS[c.pet].trim_start_matches("a ")),
            });
        }
        sentences.join(" ")
    }

    /// `n` stories joined by blank lines: the pre-training corpus.
    pub fn corpus(&self, n: usize, seed: u64) -> String {
        let mut d = Draws::new(seed, 0xc0);
        (0..n).map(|_| self.story(&mut d)).collect::<Vec<_>>().join("\n\n")
    }

    /// A statement about a character that is false in this world (one fact swapped).
    fn false_fact(&self, c: &Character, kind: usize, phrasing: usize, d: &mut Draws) -> String {
        let mut wrong = *c;
        match kind % 4 {
            0 => wrong.town = (c.town + 1 + d.below(TOWNS.len() as u64 - 1) as usize) % TOWNS.len(),
            1 => wrong.thing = (c.thing + 1 + d.below(THINGS.len() as u64 - 1) as usize) % THINGS.len(),
            2 => wrong.pet = (c.pet + 1 + d.below(PETS.len() as u64 - 1) as usize) % PETS.len(),
            _ => wrong.fear = (c.fear + 1 + d.below(FEARS.len() as u64 - 1) as usize) % FEARS.len(),
        }
        Self::fact(&wrong, kind, phrasing)
    }

    /// `n` labeled examples of `task` (classification, entailment, similarity, choice).
    pub fn task(&self, task: &str, n: usize, seed: u64) -> Vec<DemoExample> {
        let mut d = Draws::new(seed, 0x7a5c);
        (0..n)
            .map(|i| {
                let c = &self.characters[d.below(self.characters.len() as u64) as usize];
                let kind = d.below(4) as usize;
                let label = i % 2;
                match task {
                    "classification" => {
                        let phrasing = d.below(3) as usize;
                        let text = if label == 1 { Self::fact(c, kind, phrasing) } else { self.false_fact(c, kind, phrasing, &mut d) };
                        DemoExample::Classify { text, label }
                    }
                    "entailment" => {
                        let place = pick(&mut d, PLACES);
                        let other = PLACES.iter().copied().find(|p| *p != place).unwrap();
                        let (n1, n2) = (NAMES[c.name], NAMES[(c.name + 1 + d.below(5) as usize) % NAMES.len()]);
                        let premise = format!("{n1} went to {place} with {n2}.");
                        let hypothesis = format!("{n2} was at {}.", if label == 1 { place } else { other });
                        DemoExample::Entail { premise, hypothesis, label }
                    }
                    "similarity" => {
                        let a = Self::fact(c, kind, 0);
                        let b = if label == 1 { Self::fact(c, kind, 1 + d.below(2) as usize) } else { self.false_fact(c, kind, 1 + d.below(2) as usize, &mut d) };
                        DemoExample::Similar { a, b, label }
                    }
                    _ => {
                        // The story states nothing about the fear; the right ending needs the world.
                        let n = NAMES[c.name];
                        let context = format!("{} {} that night {n} heard a sound and felt afraid.", Self::fact(c, 0, 0), Self::fact(c, 2, 0));
                        let right = d.below(4) as usize;
                        let mut fears: Vec<usize> = (0..FEARS.len()).filter(|&f| f != c.fear).collect();
                        let answers = (0..4)
                            .map(|k| {
                                let fear = if k == right { c.fear } else { fears.remove(d.below(fears.len() as u64) as usize) };
                                format!("{n} was afraid of {}.", FEARS[fear])
                            })
                            .collect();
                        DemoExample::Choose { context, answers, label: right }
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_consistent() {
        let world = World::new(1);
        assert_eq!(world.corpus(5, 2), World::new(1).corpus(5, 2));
        let c = world.characters[0];
        // Every phrasing of a fact carries the same latent value.
        for p in 0..3 {
            assert!(World::fact(&c, 0, p).contains(TOWNS[c.town]));
        }
        let mut d = Draws::new(0, 0);
        assert!(!world.false_fact(&c, 0, 0, &mut d).contains(TOWNS[c.town]));
        for task in ["classification", "entailment", "similarity", "choice"] {
            let examples = world.task(task, 20, 3);
            assert_eq!(examples.len(), 20, "{task}");
        }
        match &world.task("choice", 1, 3)[0] {
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
    }
}
