package dev.reftserver.tokenizer;

import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * The Llama-2 sentencepiece vocabulary as llama2.c stores it in {@code tokenizer.bin}, encoded the way llama2.c's
 * {@code run.c} {@code encode} does (which equals sentencepiece on this vocabulary) and decoded the way Hugging
 * Face decodes the same vocabulary.
 *
 * <p>File layout, little-endian: int32 {@code max_token_length}, then per token float32 score, int32 byte length,
 * the piece's bytes (spaces already as ' ', not '▁'). The file does not say how many tokens it holds; the model
 * header does.
 *
 * <p>Ids 0, 1, 2 are {@code <unk>}, BOS and EOS. Byte-fallback tokens (the piece {@code <0xKK>} in llama2.c's own
 * file) are kept out of piece lookup: they only spell bytes that no piece covers.
 */
public final class Llama2cTokenizer implements TextTokenizer {

    static final int UNK_ID = 0;
    static final int BOS_ID = 1;
    static final int EOS_ID = 2;

    /** run.c starts its best-merge search below every real score; a merge must beat this. */
    private static final float NO_MERGE = -1e10f;

    private static final int BYTE_TOKENS = 256;
    private static final int FIRST_BYTE_ID = 3;

    private final byte[][] pieces;
    private final float[] scores;
    /** Piece text per id; null for control and byte tokens, which never take part in lookup or merges. */
    private final String[] texts;
    /** Byte value of each byte token, -1 for other ids. */
    private final int[] byteValue;
    /** Id of the byte token for each byte value. */
    private final int[] byteTokenId;
    private final Map<String, Integer> pieceIds;
    private final int dummyPrefixId;

    private Llama2cTokenizer(byte[][] pieces, float[] scores) {
        this.pieces = pieces;
        this.scores = scores;
        this.byteTokenId = findByteTokens(pieces);
        this.byteValue = new int[pieces.length];
        Arrays.fill(byteValue, -1);
        for (int b = 0; b < BYTE_TOKENS; b++) {
            byteValue[byteTokenId[b]] = b;
        }
        this.texts = new String[pieces.length];
        this.pieceIds = new HashMap<>(pieces.length * 2);
        CharsetDecoder utf8 = strictUtf8();
        for (int id = 0; id < pieces.length; id++) {
            if (isSpecial(id) || byteValue[id] >= 0) {
                continue;
            }
            String text = decodeStrict(utf8, pieces[id]);
            if (text != null) {
                texts[id] = text;
                pieceIds.putIfAbsent(text, id);
            }
        }
        this.dummyPrefixId = pieceIds.getOrDefault(" ", -1);
    }

    /** Reads a tokenizer.bin holding exactly {@code vocabSize} tokens (the model header's vocab size). */
    public static Llama2cTokenizer load(Path tokenizerBin, int vocabSize) {
        if (vocabSize <= FIRST_BYTE_ID + BYTE_TOKENS) {
            throw new TokenizerLoadException("vocab size " + vocabSize + " is too small for a llama2.c vocabulary");
        }
        return read(tokenizerBin, vocabSize);
    }

    /** Reads every token of a tokenizer.bin, for when no model header says how many there are. */
    public static Llama2cTokenizer load(Path tokenizerBin) {
        return read(tokenizerBin, -1);
    }

    private static Llama2cTokenizer read(Path file, int vocabSize) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new TokenizerLoadException("tokenizer file not found: " + file, e);
        } catch (IOException e) {
            throw new TokenizerLoadException("cannot read tokenizer file " + file + ": " + e.getMessage(), e);
        }
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        List<byte[]> pieces = new ArrayList<>(Math.max(vocabSize, 0));
        List<Float> scores = new ArrayList<>(Math.max(vocabSize, 0));
        try {
            int maxTokenLength = in.getInt();
            if (maxTokenLength <= 0) {
                throw corrupt(file, "max_token_length is " + maxTokenLength);
            }
            while (vocabSize < 0 ? in.hasRemaining() : pieces.size() < vocabSize) {
                float score = in.getFloat();
                int length = in.getInt();
                if (length < 0 || length > maxTokenLength) {
                    throw corrupt(file, "token " + pieces.size() + " has length " + length
                            + " (max_token_length " + maxTokenLength + ")");
                }
                byte[] piece = new byte[length];
                in.get(piece);
                pieces.add(piece);
                scores.add(score);
            }
        } catch (BufferUnderflowException e) {
            throw corrupt(file, vocabSize < 0
                    ? "it ends inside token " + pieces.size()
                    : "it holds " + pieces.size() + " whole tokens, the model expects " + vocabSize);
        }
        if (in.hasRemaining()) {
            throw corrupt(file, in.remaining() + " bytes follow the " + vocabSize + " tokens the model expects");
        }
        if (pieces.size() <= FIRST_BYTE_ID + BYTE_TOKENS) {
            throw corrupt(file, "it holds only " + pieces.size() + " tokens");
        }
        float[] scoreArray = new float[scores.size()];
        for (int i = 0; i < scoreArray.length; i++) {
            scoreArray[i] = scores.get(i);
        }
        try {
            return new Llama2cTokenizer(pieces.toArray(new byte[0][]), scoreArray);
        } catch (IllegalStateException e) {
            throw corrupt(file, e.getMessage());
        }
    }

    private static TokenizerLoadException corrupt(Path file, String why) {
        return new TokenizerLoadException("not a llama2.c tokenizer.bin: " + file + ": " + why);
    }

    /**
     * Finds the 256 byte tokens. llama2.c's own file names them {@code <0xKK>}. The copy bundled with the npm
     * package of stories15M instead stores byte k at id 3+k as the UTF-8 of U+00KK, which collides with real pieces
     * ('a' is id 29874 and byte 0x61 is id 100); at that layout ids 3..258 are taken as the byte tokens.
     */
    private static int[] findByteTokens(byte[][] pieces) {
        int[] ids = new int[BYTE_TOKENS];
        Arrays.fill(ids, -1);
        int named = 0;
        for (int id = 0; id < pieces.length; id++) {
            int b = hexByteName(pieces[id]);
            if (b >= 0 && ids[b] < 0) {
                ids[b] = id;
                named++;
            }
        }
        if (named == BYTE_TOKENS) {
            return ids;
        }
        for (int b = 0; b < BYTE_TOKENS; b++) {
            byte[] latin1AsUtf8 = String.valueOf((char) b).getBytes(StandardCharsets.UTF_8);
            if (!Arrays.equals(pieces[FIRST_BYTE_ID + b], latin1AsUtf8)) {
                throw new IllegalStateException("it has no byte-fallback tokens (neither <0xKK> pieces nor"
                        + " U+0000..U+00FF at ids 3..258)");
            }
            ids[b] = FIRST_BYTE_ID + b;
        }
        return ids;
    }

    /** The byte named by a {@code <0xKK>} piece, or -1. */
    private static int hexByteName(byte[] piece) {
        if (piece.length != 6 || piece[0] != '<' || piece[1] != '0' || piece[2] != 'x' || piece[5] != '>') {
            return -1;
        }
        int hi = Character.digit(piece[3], 16);
        int lo = Character.digit(piece[4], 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    @Override
    public int[] encode(String text) {
        return encode(text, true);
    }

    /** run.c's {@code encode(t, text, bos, eos=0, ...)}. */
    public int[] encode(String text, boolean withBos) {
        List<Integer> symbols = new ArrayList<>(text.length() + 2);
        if (!text.isEmpty() && dummyPrefixId >= 0) {
            // sentencepiece's add_dummy_prefix: the text is read as if it started with a space.
            symbols.add(dummyPrefixId);
        }
        text.codePoints().forEach(cp -> {
            // A lone surrogate is not text; read it as U+FFFD, as a UTF-8 encoder would.
            String ch = Character.isBmpCodePoint(cp) && Character.isSurrogate((char) cp)
                    ? "\uFFFD" : Character.toString(cp);
            Integer id = pieceIds.get(ch);
            if (id != null) {
                symbols.add(id);
            } else {
                // byte_fallback: a code point with no piece of its own is spelled by its UTF-8 bytes.
                for (byte b : ch.getBytes(StandardCharsets.UTF_8)) {
                    symbols.add(byteTokenId[b & 0xff]);
                }
            }
        });
        int[] merged = mergeByScore(symbols.stream().mapToInt(Integer::intValue).toArray());
        if (!withBos) {
            return merged;
        }
        int[] out = new int[merged.length + 1];
        out[0] = BOS_ID;
        System.arraycopy(merged, 0, out, 1, merged.length);
        return out;
    }

    /**
     * run.c's merge loop: repeatedly merge the adjacent pair whose concatenation is the vocabulary piece with the
     * highest score, the leftmost pair on ties. A heap of candidate pairs over a linked list picks the same pair
     * each round as run.c's full rescan, in O(n log n) instead of O(n^2).
     */
    private int[] mergeByScore(int[] tokens) {
        int n = tokens.length;
        int[] id = tokens.clone();
        int[] next = new int[n];
        int[] prev = new int[n];
        boolean[] alive = new boolean[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
            alive[i] = true;
        }
        PriorityQueue<Candidate> queue = new PriorityQueue<>();
        for (int i = 0; i + 1 < n; i++) {
            offer(queue, id, i, i + 1);
        }
        while (!queue.isEmpty()) {
            Candidate c = queue.poll();
            boolean stale = !alive[c.left] || !alive[c.right] || next[c.left] != c.right
                    || id[c.left] != c.leftId || id[c.right] != c.rightId;
            if (stale) {
                continue;
            }
            id[c.left] = c.mergedId;
            alive[c.right] = false;
            next[c.left] = next[c.right];
            if (next[c.right] >= 0) {
                prev[next[c.right]] = c.left;
            }
            if (prev[c.left] >= 0) {
                offer(queue, id, prev[c.left], c.left);
            }
            if (next[c.left] >= 0) {
                offer(queue, id, c.left, next[c.left]);
            }
        }
        int[] out = new int[n];
        int count = 0;
        for (int i = n > 0 ? 0 : -1; i >= 0; i = next[i]) {
            out[count++] = id[i];
        }
        return Arrays.copyOf(out, count);
    }

    private void offer(PriorityQueue<Candidate> queue, int[] id, int left, int right) {
        String a = texts[id[left]];
        String b = texts[id[right]];
        if (a == null || b == null) {
            return;
        }
        Integer merged = pieceIds.get(a + b);
        if (merged != null && scores[merged] > NO_MERGE) {
            queue.add(new Candidate(scores[merged], left, right, id[left], id[right], merged));
        }
    }

    /** A pair that may merge; ordered best score first, then leftmost, as run.c's scan with a strict '>'. */
    private record Candidate(float score, int left, int right, int leftId, int rightId, int mergedId)
            implements Comparable<Candidate> {

        @Override
        public int compareTo(Candidate o) {
            int byScore = Float.compare(o.score, score);
            return byScore != 0 ? byScore : Integer.compare(left, o.left);
        }
    }

    /**
     * Hugging Face's decoder for this vocabulary (Replace '▁' by ' ', ByteFallback, Fuse, Strip one leading space),
     * with special tokens skipped. Unlike run.c, which strips the space only right after BOS, the leading space of
     * the decoded text goes whatever the first token is: that is what sentencepiece and HF do.
     */
    @Override
    public String decode(int[] ids) {
        StringBuilder out = new StringBuilder(ids.length * 4);
        byte[] run = new byte[16];
        int runLength = 0;
        for (int id : ids) {
            checkId(id);
            if (isSpecial(id)) {
                continue;
            }
            int b = byteValue[id];
            if (b >= 0) {
                if (runLength == run.length) {
                    run = Arrays.copyOf(run, run.length * 2);
                }
                run[runLength++] = (byte) b;
                continue;
            }
            appendByteRun(out, run, runLength);
            runLength = 0;
            out.append(texts[id] != null ? texts[id] : new String(pieces[id], StandardCharsets.UTF_8));
        }
        appendByteRun(out, run, runLength);
        if (!out.isEmpty() && out.charAt(0) == ' ') {
            out.deleteCharAt(0);
        }
        return out.toString();
    }

    /** HF's ByteFallback: a run of byte tokens is its UTF-8 text when valid, otherwise one U+FFFD per byte. */
    private static void appendByteRun(StringBuilder out, byte[] run, int length) {
        if (length == 0) {
            return;
        }
        String text = decodeStrict(strictUtf8(), Arrays.copyOf(run, length));
        if (text != null) {
            out.append(text);
        } else {
            out.append("\uFFFD".repeat(length));
        }
    }

    private static CharsetDecoder strictUtf8() {
        return StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
    }

    private static String decodeStrict(CharsetDecoder utf8, byte[] bytes) {
        try {
            CharBuffer chars = utf8.reset().decode(ByteBuffer.wrap(bytes));
            return chars.toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private void checkId(int id) {
        if (id < 0 || id >= pieces.length) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + pieces.length
                    + ")");
        }
    }

    @Override
    public StreamDecoder newStreamDecoder() {
        return newStreamDecoder(new int[0]);
    }

    @Override
    public StreamDecoder newStreamDecoder(int[] contextIds) {
        for (int id : contextIds) {
            checkId(id);
        }
        return new WindowStreamDecoder(this::decode, this::isByteToken, Llama2cTokenizer::isSpecial, contextIds);
    }

    /** sentencepiece's control pieces of the Llama-2 vocabulary (llama2.c's file spells them differently). */
    @Override
    public Map<String, Integer> specialTokens() {
        return Map.of("<unk>", UNK_ID, "<s>", BOS_ID, "</s>", EOS_ID);
    }

    @Override
    public int bosId() {
        return BOS_ID;
    }

    @Override
    public int eosId() {
        return EOS_ID;
    }

    @Override
    public int vocabSize() {
        return pieces.length;
    }

    @Override
    public byte[] tokenBytes(int id) {
        checkId(id);
        if (isSpecial(id)) {
            return new byte[0];
        }
        if (byteValue[id] >= 0) {
            return new byte[] {(byte) byteValue[id]};
        }
        return pieces[id].clone();
    }

    /** {@code <unk>}, BOS and EOS: HF's decode skips them, as special tokens. */
    private static boolean isSpecial(int id) {
        return id == UNK_ID || id == BOS_ID || id == EOS_ID;
    }

    boolean isByteToken(int id) {
        return id >= 0 && id < byteValue.length && byteValue[id] >= 0;
    }

    /** The piece's bytes as stored in the file. */
    byte[] piece(int id) {
        return pieces[id].clone();
    }

    float score(int id) {
        return scores[id];
    }

    /** Id of the byte-fallback token for byte value {@code b}. */
    int byteTokenId(int b) {
        return byteTokenId[b];
    }
}
