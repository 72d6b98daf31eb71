"""Writes src/test/resources/tokenizers/bytelevel-tiny/tokenizer.json: a small byte-level BPE vocabulary (GPT-2's
byte alphabet, as Llama 3, Qwen and GPT-2 use), trained by Hugging Face tokenizers on a few English sentences, with
one special and one ordinary added token. Usage: python make_bytelevel_tokenizer.py OUT_DIR"""
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

TEXT = [
    "Once upon a time there was a little girl who loved to play in the garden.",
    "The cat sat on the mat and looked at the birds in the tree.",
    "She said hello to her friend and they went to the park together.",
] * 20

tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              special_tokens=["<|endoftext|>"])
tok.train_from_iterator(TEXT, trainer)
tok.add_tokens(["<tool>"])
tok.save(sys.argv[1] + "/tokenizer.json")
print(tok.get_vocab_size())
