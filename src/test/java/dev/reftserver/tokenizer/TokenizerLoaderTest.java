package dev.reftserver.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerLoaderTest {

    @Test
    void loadsTokenizerBinBesideALlama2cCheckpoint() {
        Path checkpoint = Fixtures.storiesTokenizerBin().resolveSibling("stories15M.bin");
        TextTokenizer tokenizer = TokenizerLoader.load(checkpoint);
        assertInstanceOf(Llama2cTokenizer.class, tokenizer);
        assertEquals(32000, tokenizer.vocabSize());
        assertArrayEquals(new int[] {1, 15043, 3186}, tokenizer.encode("Hello world"));
    }

    @Test
    void loadsTokenizerJsonInAModelDirectory() {
        TextTokenizer tokenizer = TokenizerLoader.load(Fixtures.storiesHfDir());
        try (HfTokenizer hf = assertInstanceOf(HfTokenizer.class, tokenizer)) {
            assertArrayEquals(new int[] {1, 15043, 3186}, hf.encode("Hello world"));
        }
    }

    @Test
    void readsVocabSizeFromTheCheckpointHeaderEvenWhenNegative(@TempDir Path dir) throws IOException {
        Files.copy(Fixtures.storiesTokenizerBin(), dir.resolve("tokenizer.bin"));
        // llama2.c writes a negative vocab_size when the classifier is not tied to the embedding.
        Path checkpoint = writeHeader(dir.resolve("untied.bin"), -32000);
        assertEquals(32000, TokenizerLoader.load(checkpoint).vocabSize());
    }

    @Test
    void rejectsATokenizerBinThatDisagreesWithTheCheckpoint(@TempDir Path dir) throws IOException {
        Files.copy(Fixtures.storiesTokenizerBin(), dir.resolve("tokenizer.bin"));
        Path checkpoint = writeHeader(dir.resolve("model.bin"), 32001);
        TokenizerLoadException e = assertThrows(TokenizerLoadException.class, () -> TokenizerLoader.load(checkpoint));
        assertTrue(e.getMessage().contains("the model expects 32001"), e.getMessage());
    }

    @Test
    void namesTheMissingFile(@TempDir Path dir) throws IOException {
        Path checkpoint = writeHeader(dir.resolve("model.bin"), 32000);
        TokenizerLoadException noBin = assertThrows(TokenizerLoadException.class,
                () -> TokenizerLoader.load(checkpoint));
        assertTrue(noBin.getMessage().contains("tokenizer file not found")
                && noBin.getMessage().contains("tokenizer.bin"), noBin.getMessage());

        Path modelDir = Files.createDirectory(dir.resolve("hf-model"));
        TokenizerLoadException noJson = assertThrows(TokenizerLoadException.class,
                () -> TokenizerLoader.load(modelDir));
        assertTrue(noJson.getMessage().contains("tokenizer.json"), noJson.getMessage());

        TokenizerLoadException noModel = assertThrows(TokenizerLoadException.class,
                () -> TokenizerLoader.load(dir.resolve("absent.bin")));
        assertTrue(noModel.getMessage().contains("does not exist"), noModel.getMessage());
    }

    @Test
    void rejectsFilesThatAreNotModels(@TempDir Path dir) throws IOException {
        Path safetensors = Files.writeString(dir.resolve("model.safetensors"), "{}");
        assertThrows(TokenizerLoadException.class, () -> TokenizerLoader.load(safetensors));

        Path stub = Files.write(dir.resolve("stub.bin"), new byte[] {1, 2, 3});
        TokenizerLoadException e = assertThrows(TokenizerLoadException.class, () -> TokenizerLoader.load(stub));
        assertTrue(e.getMessage().contains("shorter than its header"), e.getMessage());
    }

    private static Path writeHeader(Path file, int vocabSize) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN);
        header.putInt(288).putInt(768).putInt(6).putInt(6).putInt(6).putInt(vocabSize).putInt(256);
        return Files.write(file, header.array());
    }
}
