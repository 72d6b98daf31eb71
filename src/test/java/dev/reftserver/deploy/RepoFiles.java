package dev.reftserver.deploy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.Yaml;

/** The deployment files under test, read from the repository root (Surefire's working directory). */
final class RepoFiles {

    private RepoFiles() {}

    static String read(String relativePath) {
        try {
            return Files.readString(Path.of(relativePath));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Map<String, Object> yaml(String relativePath) {
        return new Yaml().load(read(relativePath));
    }

    /** The project version from pom.xml, the one every image tag and the chart's appVersion follow. */
    static String pomVersion() {
        // The first <version> after </parent> is the project's own.
        String pom = read("pom.xml");
        Matcher m = Pattern.compile("</parent>.*?<version>([^<]+)</version>", Pattern.DOTALL).matcher(pom);
        if (!m.find()) {
            throw new AssertionError("pom.xml has no project version");
        }
        return m.group(1).strip();
    }

    /** Lines inside the fenced code blocks of a Markdown file, stripped. */
    static List<String> codeLines(String markdownPath) {
        List<String> lines = new ArrayList<>();
        boolean inFence = false;
        for (String line : read(markdownPath).split("\n")) {
            if (line.strip().startsWith("```")) {
                inFence = !inFence;
            } else if (inFence) {
                lines.add(line.strip());
            }
        }
        return lines;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object node) {
        return (Map<String, Object>) node;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object node) {
        return (List<Object>) node;
    }
}
