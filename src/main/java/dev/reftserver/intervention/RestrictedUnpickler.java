package dev.reftserver.intervention;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the {@code data.pkl} of a {@code torch.save} zip without executing anything: a pickle interpreter for the
 * opcodes torch's protocol-2 pickles use (plus the few protocol-4 framing ones), which knows exactly the globals
 * needed to rebuild a state dict: {@code collections.OrderedDict}, {@code torch._utils._rebuild_tensor_v2},
 * {@code torch._utils._rebuild_parameter} and the typed storages ({@code torch.FloatStorage}, ...) named in
 * persistent ids. Any other global is refused on the {@code GLOBAL} / {@code STACK_GLOBAL} opcode itself, any other
 * opcode where it appears; both before the opcode's effect and before anything after it is read.
 */
final class RestrictedUnpickler {

    static final int MAX_PICKLE_BYTES = 8 * 1024 * 1024;
    private static final int MAX_STACK = 100_000;
    private static final int MAX_MEMO = 100_000;
    private static final int MAX_DIMS = 8;
    /**
     * Units of work one pickle may cost: one per opcode, plus one per item it moves into a container, plus, for a
     * memo reference to a container, that container's size (shared structure costs what walking it would). A
     * torch state dict costs a few hundred per tensor; the bound is linear in the largest pickle allowed.
     */
    static final long MAX_WORK = 4L * MAX_PICKLE_BYTES;
    /** Opcodes between two looks at the import's clock. */
    private static final int CLOCK_EVERY = 4096;

    /** A callable the pickle may name. */
    enum Callable { ORDERED_DICT, REBUILD_TENSOR_V2, REBUILD_PARAMETER }

    /** A storage class named inside a persistent id; not callable. */
    record StorageClass(TorchStorageType type) {
    }

    /** A Python tuple (immutable; may hold nulls for None). */
    record PyTuple(List<Object> items) {
        PyTuple {
            items = Collections.unmodifiableList(new ArrayList<>(items));
        }

        int size() {
            return items.size();
        }

        Object get(int i) {
            return items.get(i);
        }
    }

    /** {@code ('storage', storage_type, key, location, numel)} from a persistent id. */
    record StorageRef(TorchStorageType type, String key, String location, long numel) {
    }

    /** What {@code _rebuild_tensor_v2(storage, storage_offset, size, stride, ...)} would build. */
    record TensorRef(StorageRef storage, long offset, int[] size, long[] stride) {
    }

    private static final Object MARK_SENTINEL = new Object();

    private final byte[] in;
    private final ByteBuffer buf;
    private final String where;
    private final List<Object> stack = new ArrayList<>();
    private final List<Integer> marks = new ArrayList<>();
    private final Map<Integer, Object> memo = new HashMap<>();
    private final ImportBudget budget;
    private int pos;
    private long work;
    private long ops;

    private RestrictedUnpickler(byte[] in, String where, ImportBudget budget) {
        this.in = in;
        this.buf = ByteBuffer.wrap(in).order(ByteOrder.LITTLE_ENDIAN);
        this.where = where;
        this.budget = budget;
    }

    /**
     * @return the unpickled object: maps, lists, {@link PyTuple}, strings, Long, Double, Boolean, null,
     *     {@link TensorRef}
     * @throws BundleRejectedException with reason {@code pickle_global} for a global outside the allow-list,
     *     {@code pickle_opcode} for an opcode it does not run, {@code too_complex} past {@link #MAX_WORK} or the
     *     import's time, {@code pickle} for anything malformed
     */
    static Object load(byte[] pickle, String where, ImportBudget budget) {
        if (pickle.length > MAX_PICKLE_BYTES) {
            throw new BundleRejectedException("too_large",
                    where + ": pickle of " + pickle.length + " bytes exceeds " + MAX_PICKLE_BYTES, true);
        }
        try {
            return new RestrictedUnpickler(pickle, where, budget).run();
        } catch (ArithmeticException ex) {
            throw new BundleRejectedException("pickle", where + ": integer overflow in tensor sizes");
        }
    }

    private Object run() {
        while (true) {
            if (pos >= in.length) {
                throw bad("ends without STOP");
            }
            int at = pos;
            int op = in[pos++] & 0xFF;
            spend(1);
            if (++ops % CLOCK_EVERY == 0) {
                budget.checkTime(where);
            }
            switch (op) {
                case 0x80 -> { // PROTO
                    int v = u8();
                    if (v > 5) {
                        throw bad("pickle protocol " + v + " is not supported");
                    }
                }
                case 0x95 -> skip(8); // FRAME: a length hint only
                case '(' -> {
                    marks.add(stack.size());
                    push(MARK_SENTINEL);
                }
                case '.' -> {
                    if (stack.size() != 1 || !marks.isEmpty()) {
                        throw bad("STOP with an unbalanced stack");
                    }
                    return stack.get(0);
                }
                case 'Q' -> push(persistentLoad(pop(), at)); // BINPERSID
                case 'J' -> push((long) i32());
                case 'K' -> push((long) u8());
                case 'M' -> push((long) u16());
                case 0x8a -> push(long1()); // LONG1
                case 'N' -> push(null);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'X' -> push(utf8(u32AsInt()));
                case 0x8c -> push(utf8(u8())); // SHORT_BINUNICODE
                case 0x8d -> push(utf8(u64AsInt())); // BINUNICODE8
                case 'G' -> {
                    need(8);
                    push(ByteBuffer.wrap(in, pos, 8).order(ByteOrder.BIG_ENDIAN).getDouble());
                    pos += 8;
                }
                case ')' -> push(new PyTuple(List.of()));
                case 't' -> push(new PyTuple(popMark()));
                case 0x85 -> push(tupleOf(1));
                case 0x86 -> push(tupleOf(2));
                case 0x87 -> push(tupleOf(3));
                case ']' -> push(new ArrayList<>());
                case 'l' -> push(new ArrayList<>(popMark()));
                case 'a' -> {
                    Object v = pop();
                    list(peek(), "APPEND").add(v);
                }
                case 'e' -> {
                    List<Object> items = popMark();
                    list(peek(), "APPENDS").addAll(items);
                }
                case '}' -> push(new LinkedHashMap<>());
                case 'd' -> {
                    List<Object> items = popMark();
                    Map<Object, Object> m = new LinkedHashMap<>();
                    putAll(m, items);
                    push(m);
                }
                case 's' -> {
                    Object v = pop();
                    Object k = pop();
                    dict(peek(), "SETITEM").put(key(k), v);
                }
                case 'u' -> {
                    List<Object> items = popMark();
                    putAll(dict(peek(), "SETITEMS"), items);
                }
                case 'c' -> { // GLOBAL
                    String module = line();
                    String name = line();
                    push(global(module, name, "GLOBAL", at));
                }
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop();
                    Object module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw bad("STACK_GLOBAL needs two strings (at byte " + at + ")");
                    }
                    push(global(m, n, "STACK_GLOBAL", at));
                }
                case 'R' -> {
                    Object args = pop();
                    Object fn = pop();
                    push(reduce(fn, args, at));
                }
                case 'b' -> {
                    Object state = pop();
                    build(peek(), state, at);
                }
                case 'q' -> memoPut(u8());
                case 'r' -> memoPut(u32AsInt());
                case 0x94 -> memoPut(memo.size()); // MEMOIZE
                case 'h' -> push(memoGet(u8()));
                case 'j' -> push(memoGet(u32AsInt()));
                case '0' -> pop();
                case '1' -> popMark();
                case '2' -> push(peek());
                default -> throw new BundleRejectedException("pickle_opcode", where + ": pickle opcode "
                        + opcodeName(op) + " at byte " + at + " is not allowed in a tensor state dict");
            }
        }
    }

    /** Resolves a global against the allow-list, or refuses it before anything else is read. */
    private Object global(String module, String name, String opcode, int at) {
        String full = module + "." + name;
        switch (full) {
            case "collections.OrderedDict":
                return Callable.ORDERED_DICT;
            case "torch._utils._rebuild_tensor_v2":
                return Callable.REBUILD_TENSOR_V2;
            case "torch._utils._rebuild_parameter":
                return Callable.REBUILD_PARAMETER;
            default:
                if (module.equals("torch")) {
                    TorchStorageType t = TorchStorageType.fromClassName(name);
                    if (t != null) {
                        return new StorageClass(t);
                    }
                }
                throw new BundleRejectedException("pickle_global", where + ": pickle global '" + printable(full)
                        + "' (" + opcode + " at byte " + at + ") is not allowed; only tensor-rebuilding globals"
                        + " (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch storages) are");
        }
    }

    private Object reduce(Object fn, Object args, int at) {
        if (!(fn instanceof Callable c)) {
            throw new BundleRejectedException("pickle_opcode",
                    where + ": REDUCE at byte " + at + " calls something that is not an allowed function");
        }
        if (!(args instanceof PyTuple t)) {
            throw bad("REDUCE at byte " + at + " without an argument tuple");
        }
        return switch (c) {
            case ORDERED_DICT -> {
                if (t.size() != 0) {
                    throw bad("OrderedDict with constructor arguments at byte " + at);
                }
                yield new LinkedHashMap<Object, Object>();
            }
            case REBUILD_TENSOR_V2 -> rebuildTensor(t, at);
            case REBUILD_PARAMETER -> {
                // _rebuild_parameter(data, requires_grad, backward_hooks)
                if (t.size() < 1 || !(t.get(0) instanceof TensorRef data)) {
                    throw bad("_rebuild_parameter without a tensor at byte " + at);
                }
                yield data;
            }
        };
    }

    /** {@code _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])}. */
    private TensorRef rebuildTensor(PyTuple t, int at) {
        if (t.size() < 4 || !(t.get(0) instanceof StorageRef storage) || !(t.get(1) instanceof Long offset)
                || !(t.get(2) instanceof PyTuple size) || !(t.get(3) instanceof PyTuple stride)) {
            throw bad("malformed _rebuild_tensor_v2 arguments at byte " + at);
        }
        if (size.size() != stride.size() || size.size() > MAX_DIMS) {
            throw bad("tensor at byte " + at + " has mismatched or too many dimensions");
        }
        int[] dims = new int[size.size()];
        long[] strides = new long[size.size()];
        long numel = 1;
        long lastIndex = offset;
        for (int i = 0; i < dims.length; i++) {
            if (!(size.get(i) instanceof Long s) || !(stride.get(i) instanceof Long st) || s < 0 || st < 0
                    || s > Integer.MAX_VALUE) {
                throw bad("tensor at byte " + at + " has an invalid size or stride");
            }
            dims[i] = (int) s.longValue();
            strides[i] = st;
            numel = Math.multiplyExact(numel, s);
            if (s > 0) {
                lastIndex = Math.addExact(lastIndex, Math.multiplyExact(s - 1, st));
            }
        }
        if (offset < 0 || offset > storage.numel() || (numel > 0 && lastIndex >= storage.numel())) {
            throw bad("tensor at byte " + at + " reaches past its storage of " + storage.numel() + " elements");
        }
        return new TensorRef(storage, offset, dims, strides);
    }

    /** {@code ('storage', storage_type, key, location, numel)}, as torch's persistent_id writes it. */
    private StorageRef persistentLoad(Object pid, int at) {
        if (!(pid instanceof PyTuple t) || t.size() != 5 || !"storage".equals(t.get(0))
                || !(t.get(1) instanceof StorageClass cls) || !(t.get(2) instanceof String key)
                || !(t.get(3) instanceof String location) || !(t.get(4) instanceof Long numel) || numel < 0) {
            throw bad("persistent id at byte " + at + " is not a torch storage reference");
        }
        if (numel > (Integer.MAX_VALUE - 8) / cls.type().elementBytes()) {
            throw bad("storage at byte " + at + " claims " + numel + " elements, more than any zip entry holds");
        }
        if (!key.matches("[0-9A-Za-z_]{1,64}")) {
            throw bad("storage key at byte " + at + " is not a plain name");
        }
        return new StorageRef(cls.type(), key, location, numel);
    }

    private void build(Object target, Object state, int at) {
        // torch pickles the state dict's _metadata as BUILD state on the OrderedDict; it is not needed
        if (target instanceof LinkedHashMap<?, ?> && (state instanceof Map<?, ?> || state instanceof PyTuple)) {
            return;
        }
        throw new BundleRejectedException("pickle_opcode",
                where + ": BUILD at byte " + at + " on something other than a state dict");
    }

    private void putAll(Map<Object, Object> m, List<Object> items) {
        if (items.size() % 2 != 0) {
            throw bad("odd number of dict items");
        }
        spend(items.size());
        for (int i = 0; i < items.size(); i += 2) {
            m.put(key(items.get(i)), items.get(i + 1));
        }
    }

    /**
     * Only strings and ints may be dict keys (all a state dict and its metadata use): hashing them costs their
     * length, never a walk through shared structure.
     */
    private Object key(Object k) {
        if (!(k instanceof String) && !(k instanceof Long)) {
            throw bad("dict key of type " + typeName(k) + "; only string and int keys are allowed");
        }
        return k;
    }

    private static String typeName(Object o) {
        return o == null ? "None" : o instanceof PyTuple ? "tuple" : o instanceof Map<?, ?> ? "dict"
                : o instanceof List<?> ? "list" : o.getClass().getSimpleName();
    }

    /** Counts work, failing once the pickle has cost more than {@link #MAX_WORK}. */
    private void spend(long units) {
        work += units;
        if (work > MAX_WORK) {
            throw new BundleRejectedException("too_complex", where + ": the pickle costs more than " + MAX_WORK
                    + " units of work to read (at byte " + pos + "); it is not a plausible state dict");
        }
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object o, String op) {
        if (o instanceof ArrayList<?> l) {
            return (List<Object>) l;
        }
        throw bad(op + " on something that is not a list");
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> dict(Object o, String op) {
        if (o instanceof LinkedHashMap<?, ?> m) {
            return (Map<Object, Object>) m;
        }
        throw bad(op + " on something that is not a dict");
    }

    private PyTuple tupleOf(int n) {
        if (stack.size() - topMark() < n) {
            throw bad("stack underflow");
        }
        spend(n);
        List<Object> items = new ArrayList<>(stack.subList(stack.size() - n, stack.size()));
        for (Object o : items) {
            if (o == MARK_SENTINEL) {
                throw bad("tuple across a MARK");
            }
        }
        stack.subList(stack.size() - n, stack.size()).clear();
        return new PyTuple(items);
    }

    private List<Object> popMark() {
        if (marks.isEmpty()) {
            throw bad("no MARK to pop to");
        }
        int m = marks.remove(marks.size() - 1);
        spend(stack.size() - m);
        List<Object> items = new ArrayList<>(stack.subList(m + 1, stack.size()));
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private int topMark() {
        return marks.isEmpty() ? 0 : marks.get(marks.size() - 1) + 1;
    }

    private void push(Object o) {
        if (stack.size() >= MAX_STACK) {
            throw bad("stack grows past " + MAX_STACK);
        }
        stack.add(o);
    }

    private Object pop() {
        if (stack.size() <= topMark()) {
            throw bad("stack underflow");
        }
        return stack.remove(stack.size() - 1);
    }

    private Object peek() {
        if (stack.size() <= topMark()) {
            throw bad("stack underflow");
        }
        return stack.get(stack.size() - 1);
    }

    private void memoPut(int idx) {
        if (idx < 0 || (memo.size() >= MAX_MEMO && !memo.containsKey(idx))) {
            throw bad("memo grows past " + MAX_MEMO);
        }
        memo.put(idx, peek());
    }

    private Object memoGet(int idx) {
        if (!memo.containsKey(idx)) {
            throw bad("memo key " + idx + " is not set");
        }
        Object o = memo.get(idx);
        spend(o instanceof PyTuple t ? t.size() : o instanceof List<?> l ? l.size() : o instanceof Map<?, ?> m
                ? m.size() : 0);
        return o;
    }

    private String line() {
        int start = pos;
        while (pos < in.length && in[pos] != '\n') {
            if (pos - start > 256) {
                throw bad("GLOBAL name too long");
            }
            pos++;
        }
        if (pos >= in.length) {
            throw bad("truncated GLOBAL");
        }
        String s = new String(in, start, pos - start, StandardCharsets.US_ASCII);
        pos++;
        return s;
    }

    private String utf8(int len) {
        need(len);
        try {
            String s = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(in, pos, len))
                    .toString();
            pos += len;
            return s;
        } catch (CharacterCodingException ex) {
            throw bad("string at byte " + pos + " is not UTF-8");
        }
    }

    private long long1() {
        int n = u8();
        if (n > 8) {
            throw bad("integer wider than 64 bits");
        }
        need(n);
        long v = 0;
        for (int i = n - 1; i >= 0; i--) {
            v = (v << 8) | (in[pos + i] & 0xFF);
        }
        if (n > 0 && n < 8 && (in[pos + n - 1] & 0x80) != 0) {
            v -= 1L << (8 * n);
        }
        pos += n;
        return v;
    }

    private int u8() {
        need(1);
        return in[pos++] & 0xFF;
    }

    private int u16() {
        need(2);
        int v = buf.getShort(pos) & 0xFFFF;
        pos += 2;
        return v;
    }

    private int i32() {
        need(4);
        int v = buf.getInt(pos);
        pos += 4;
        return v;
    }

    private int u32AsInt() {
        long v = i32() & 0xFFFFFFFFL;
        if (v > in.length) {
            throw bad("length " + v + " runs past the pickle");
        }
        return (int) v;
    }

    private int u64AsInt() {
        need(8);
        long v = buf.getLong(pos);
        pos += 8;
        if (v < 0 || v > in.length) {
            throw bad("length " + v + " runs past the pickle");
        }
        return (int) v;
    }

    private void skip(int n) {
        need(n);
        pos += n;
    }

    private void need(int n) {
        if (n < 0 || pos + (long) n > in.length) {
            throw bad("truncated at byte " + pos);
        }
    }

    private BundleRejectedException bad(String what) {
        return new BundleRejectedException("pickle", where + ": " + what);
    }

    private static String opcodeName(int op) {
        return op >= 0x21 && op < 0x7f ? "'" + (char) op + "' (0x" + Integer.toHexString(op) + ")"
                : "0x" + Integer.toHexString(op);
    }

    private static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            b.append(c >= 0x20 && c < 0x7f ? c : '?');
        }
        return b.length() > 120 ? b.substring(0, 120) + "..." : b.toString();
    }
}
