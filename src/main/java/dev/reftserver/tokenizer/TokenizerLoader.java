package dev.reftserver.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Picks the tokenizer that belongs to a model path ({@code reft.model.path}): a llama2.c checkpoint {@code .bin}
 * has {@code tokenizer.bin} beside it; a Hugging Face model directory has {@code tokenizer.json} in it.
 */
public final class TokenizerLoader {

    /** llama2.c's checkpoint header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len. */
    private static final int LLAMA2C_HEADER_BYTES = 7 * Integer.BYTES;
    private static final int LLAMA2C_VOCAB_FIELD = 5 * Integer.BYTES;

    private TokenizerLoader() {
    }

    /** Loads the tokenizer of the model at {@code modelPath}; throws {@link TokenizerLoadException} when it cannot. */
    public static TextTokenizer load(Path modelPath) {
        if (Files.isDirectory(modelPath)) {
            return HfTokenizer.load(modelPath);
        }
        if (!Files.isRegularFile(modelPath)) {
            throw new TokenizerLoadException("model path does not exist: " + modelPath);
        }
        if (!modelPath.getFileName().toString().endsWith(".bin")) {
            throw new TokenizerLoadException("model path must be a Hugging Face model directory or a llama2.c .bin"
                    + " checkpoint: " + modelPath);
        }
        Path tokenizerBin = modelPath.toAbsolutePath().resolveSibling("tokenizer.bin");
        return Llama2cTokenizer.load(tokenizerBin, llama2cVocabSize(modelPath));
    }

    private static int llama2cVocabSize(Path checkpoint) {
        byte[] header;
        try (InputStream in = Files.newInputStream(checkpoint)) {
            header = in.readNBytes(LLAMA2C_HEADER_BYTES);
        } catch (IOException e) {
            throw new TokenizerLoadException("cannot read llama2.c checkpoint " + checkpoint + ": " + e.getMessage(),
                    e);
        }
        if (header.length < LLAMA2C_HEADER_BYTES) {
            throw new TokenizerLoadException("not a llama2.c checkpoint (shorter than its header): " + checkpoint);
        }
        // A negative vocab_size only tells llama2.c that the classifier weights are not shared with the embedding.
        int vocabSize = Math.abs(ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN).getInt(LLAMA2C_VOCAB_FIELD));
        if (vocabSize == 0) {
            throw new TokenizerLoadException("llama2.c checkpoint header has vocab_size 0: " + checkpoint);
        }
        return vocabSize;
    }
}
