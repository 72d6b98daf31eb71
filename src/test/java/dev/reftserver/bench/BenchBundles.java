package dev.reftserver.bench;

import dev.reftserver.model.checkpoint.SafetensorsFiles;
import dev.reftserver.model.checkpoint.TensorData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Random LoReFT bundles in the native reft-bundle/1 format, for benchmarks. */
final class BenchBundles {

    private BenchBundles() {
    }

    /**
     * A LoReFT bundle with one shared-weight intervention per layer (applied to first and last positions), S with
     * orthonormal columns from Gram-Schmidt on a seeded Gaussian matrix, W and b Gaussian.
     */
    static byte[] loreft(long seed, int hidden, int numLayers, int[] layers, int rank, String positions) {
        Random rnd = new Random(seed);
        List<TensorData> tensors = new ArrayList<>();
        StringBuilder json = new StringBuilder();
        json.append("{\"format\":\"reft-bundle/1\",\"base_model\":{\"hidden_size\":").append(hidden)
                .append(",\"num_layers\":").append(numLayers).append("},\"prompt_positions\":\"").append(positions)
                .append("\",\"share_weights\":true,\"interventions\":[");
        for (int i = 0; i < layers.length; i++) {
            tensors.add(new TensorData(i + ".rotate", new long[] {hidden, rank}, orthonormalColumns(rnd, hidden, rank)));
            tensors.add(new TensorData(i + ".weight", new long[] {rank, hidden}, gaussian(rnd, rank * hidden, 0.05)));
            tensors.add(new TensorData(i + ".bias", new long[] {rank}, gaussian(rnd, rank, 0.5)));
            json.append(i == 0 ? "" : ",").append("{\"layer\":").append(layers[i])
                    .append(",\"component\":\"block_output\",\"type\":\"loreft\",\"rank\":").append(rank)
                    .append(",\"apply_to\":\"all\",\"act\":\"linear\",\"tensors\":{\"rotate\":\"").append(i)
                    .append(".rotate\",\"weight\":\"").append(i).append(".weight\",\"bias\":\"").append(i)
                    .append(".bias\"}}");
        }
        json.append("]}");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(out)) {
            zip.putNextEntry(new ZipEntry("reft.json"));
            zip.write(json.toString().getBytes(StandardCharsets.UTF_8));
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry("weights.safetensors"));
            zip.write(SafetensorsFiles.writeF32(tensors));
            zip.closeEntry();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static float[] gaussian(Random rnd, int n, double scale) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (rnd.nextGaussian() * scale);
        }
        return out;
    }

    /** [d, r] row-major with orthonormal columns (modified Gram-Schmidt in double). */
    private static float[] orthonormalColumns(Random rnd, int d, int r) {
        double[][] cols = new double[r][d];
        for (int c = 0; c < r; c++) {
            for (int i = 0; i < d; i++) {
                cols[c][i] = rnd.nextGaussian();
            }
            for (int p = 0; p < c; p++) {
                double dot = 0;
                for (int i = 0; i < d; i++) {
                    dot += cols[c][i] * cols[p][i];
                }
                for (int i = 0; i < d; i++) {
                    cols[c][i] -= dot * cols[p][i];
                }
            }
            double norm = 0;
            for (int i = 0; i < d; i++) {
                norm += cols[c][i] * cols[c][i];
            }
            norm = Math.sqrt(norm);
            for (int i = 0; i < d; i++) {
                cols[c][i] /= norm;
            }
        }
        float[] out = new float[d * r];
        for (int i = 0; i < d; i++) {
            for (int c = 0; c < r; c++) {
                out[i * r + c] = (float) cols[c][i];
            }
        }
        return out;
    }
}
