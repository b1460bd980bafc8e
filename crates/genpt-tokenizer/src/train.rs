pub fn train_bpe() {}
