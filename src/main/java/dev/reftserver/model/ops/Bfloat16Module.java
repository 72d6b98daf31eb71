package dev.reftserver.model.ops;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * The TorchScript module behind {@link Bfloat16Cast}: its code (the methods the cast runs, in TorchScript's own
 * serialized Python, naming dtypes by libtorch's numbers) and the archive {@code torch.jit.save} would write for it,
 * made in Java so that no Python is needed.
 */
final class Bfloat16Module {

    private Bfloat16Module() {
    }

    /**
     * The TorchScript archive torch.jit.save would write for this module: its code, a pickle of the module object
     * (class {@code __torch__.Convert}, attribute {@code training}), an empty constants table and a format version.
     */
    static byte[] archive() {
        String code = """
                class Convert(Module):
                  __parameters__ = []
                  __buffers__ = []
                  training : bool
                  def forward(self: __torch__.Convert,
                    x: Tensor) -> Tensor:
                    return torch.to(x, 15)
                  def back(self: __torch__.Convert,
                    x: Tensor) -> Tensor:
                    return torch.to(x, 6)
                  def linear(self: __torch__.Convert,
                    x: Tensor,
                    w: Tensor) -> Tensor:
                    return torch.to(torch.linear(torch.to(x, 15), w), 6)
                  def linear2(self: __torch__.Convert,
                    x: Tensor,
                    w1: Tensor,
                    w2: Tensor) -> Tensor:
                    _0 = torch.to(x, 15)
                    _1 = [torch.linear(_0, w1), torch.linear(_0, w2)]
                    return torch.to(torch.cat(_1, -1), 6)
                  def linear3(self: __torch__.Convert,
                    x: Tensor,
                    w1: Tensor,
                    w2: Tensor,
                    w3: Tensor) -> Tensor:
                    _0 = torch.to(x, 15)
                    _1 = [torch.linear(_0, w1), torch.linear(_0, w2), torch.linear(_0, w3)]
                    return torch.to(torch.cat(_1, -1), 6)
                  def pack(self: __torch__.Convert,
                    w: Tensor) -> Tensor:
                    return ops.mkldnn._reorder_linear_weight(w, 1)
                  def packed_linear(self: __torch__.Convert,
                    x: Tensor,
                    w: Tensor) -> Tensor:
                    _0 = ops.mkldnn._linear_pointwise(torch.to(x, 15), w, None, "none",
                      annotate(List[Optional[number]], []), "")
                    return torch.to(_0, 6)
                  def packed_linear_into(self: __torch__.Convert,
                    x: Tensor,
                    w: Tensor,
                    into: Tensor) -> Tensor:
                    _0 = ops.mkldnn._linear_pointwise(torch.to(x, 15), w, None, "none",
                      annotate(List[Optional[number]], []), "")
                    return torch.copy_(into, _0)
                  def empty_float32(self: __torch__.Convert,
                    sizes: List[int]) -> Tensor:
                    return torch.empty(sizes, dtype=6)
                  def rows(self: __torch__.Convert,
                    w: Tensor,
                    ids: Tensor) -> Tensor:
                    return torch.to(torch.index_select(w, 0, ids), 6)
                  def copy(self: __torch__.Convert,
                    x: Tensor) -> Tensor:
                    return torch.clone(x)
                  def row_argmax(self: __torch__.Convert,
                    x: Tensor) -> Tensor:
                    _0, _1 = torch.max(x, 1)
                    return _1
                  def empty(self: __torch__.Convert,
                    sizes: List[int]) -> Tensor:
                    return torch.empty(sizes, dtype=15)
                  def write_attend(self: __torch__.Convert,
                    q: Tensor,
                    k: Tensor,
                    v: Tensor,
                    keys: Tensor,
                    values: Tensor,
                    slots: Tensor,
                    positions: Tensor,
                    mask: Tensor) -> Tensor:
                    _0 = self.write(k, v, keys, values, slots, positions)
                    n = torch.size(q, 0)
                    length = torch.size(mask, -1)
                    _1 = torch.slice(torch.slice(keys, 0, 0, n), 3, 0, length)
                    _2 = torch.slice(torch.slice(values, 0, 0, n), 2, 0, length)
                    _3 = torch.add(torch.matmul(torch.to(q, 15), _1), mask)
                    _4 = torch.to(torch.softmax(_3, -1, 6), 15)
                    return torch.to(torch.matmul(_4, _2), 6)
                  def write_attend_capped(self: __torch__.Convert,
                    q: Tensor,
                    k: Tensor,
                    v: Tensor,
                    keys: Tensor,
                    values: Tensor,
                    slots: Tensor,
                    positions: Tensor,
                    mask: Tensor,
                    inverse: Tensor,
                    cap: Tensor) -> Tensor:
                    _0 = self.write(k, v, keys, values, slots, positions)
                    n = torch.size(q, 0)
                    length = torch.size(mask, -1)
                    _1 = torch.slice(torch.slice(keys, 0, 0, n), 3, 0, length)
                    _2 = torch.slice(torch.slice(values, 0, 0, n), 2, 0, length)
                    _3 = torch.mul(torch.tanh(torch.mul(torch.matmul(torch.to(q, 15), _1), inverse)), cap)
                    _4 = torch.to(torch.softmax(torch.add(_3, mask), -1, 6), 15)
                    return torch.to(torch.matmul(_4, _2), 6)
                  def write(self: __torch__.Convert,
                    k: Tensor,
                    v: Tensor,
                    keys: Tensor,
                    values: Tensor,
                    slots: Tensor,
                    positions: Tensor) -> Tensor:
                    _0 = annotate(List[Optional[Tensor]], [slots, None, None, positions])
                    _1 = torch.index_put_(keys, _0, torch.to(torch.squeeze(k, 1), 15))
                    _2 = annotate(List[Optional[Tensor]], [slots, None, positions])
                    return torch.index_put_(values, _2, torch.to(torch.squeeze(v, 1), 15))
                """;
        ByteArrayOutputStream pickle = new ByteArrayOutputStream();
        pickle.writeBytes(new byte[] {(byte) 0x80, 2});                                  // PROTO 2
        pickle.writeBytes("c__torch__\nConvert\n".getBytes(StandardCharsets.US_ASCII)); // GLOBAL
        pickle.writeBytes(new byte[] {')', (byte) 0x81, '}', '('});                      // (), NEWOBJ, {}, MARK
        pickle.writeBytes(new byte[] {'X', 8, 0, 0, 0});                                 // BINUNICODE, 8 bytes
        pickle.writeBytes("training".getBytes(StandardCharsets.US_ASCII));
        pickle.writeBytes(new byte[] {(byte) 0x88, 'u', 'b', '.'});                      // True, SETITEMS, BUILD, STOP
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(zip)) {
            stored(z, "convert/version", "3\n".getBytes(StandardCharsets.US_ASCII));
            stored(z, "convert/code/__torch__.py", code.getBytes(StandardCharsets.UTF_8));
            stored(z, "convert/data.pkl", pickle.toByteArray());
            stored(z, "convert/constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'});
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return zip.toByteArray();
    }

    private static void stored(ZipOutputStream z, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        z.putNextEntry(e);
        z.write(data);
        z.closeEntry();
    }
}
