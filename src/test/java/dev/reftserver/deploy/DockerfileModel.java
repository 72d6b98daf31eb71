package dev.reftserver.deploy;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Dockerfile read the way the builder reads it: comments dropped, backslash continuations joined, instructions
 * grouped into stages. Enough to check what the image does without a Docker daemon.
 */
record DockerfileModel(List<Instruction> globalArgs, List<Stage> stages) {

    record Instruction(String keyword, String arguments) {}

    record Stage(String name, String base, List<Instruction> instructions) {

        List<Instruction> all(String keyword) {
            return instructions.stream().filter(i -> i.keyword().equals(keyword)).toList();
        }

        /** Value of ENV key in this stage, from either `ENV k=v ...` or the legacy `ENV k v` form. */
        Optional<String> env(String key) {
            Optional<String> found = Optional.empty();
            for (Instruction env : all("ENV")) {
                Matcher m = ENV_PAIR.matcher(env.arguments());
                while (m.find()) {
                    if (m.group(1).equals(key)) {
                        found = Optional.of(unquote(m.group(2)));
                    }
                }
            }
            return found;
        }
    }

    private static final Pattern FROM = Pattern.compile("(?i)(?:--platform=\\S+\\s+)?(\\S+)(?:\\s+AS\\s+(\\S+))?");
    private static final Pattern ENV_PAIR = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\\S+)");

    static DockerfileModel parse(String text) {
        List<Instruction> instructions = new ArrayList<>();
        StringBuilder pending = new StringBuilder();
        for (String raw : text.split("\n", -1)) {
            String line = raw.strip();
            // Comment lines are dropped even inside a continuation, as the builder does.
            if (line.startsWith("#")) {
                continue;
            }
            if (line.endsWith("\\")) {
                pending.append(line, 0, line.length() - 1).append(' ');
                continue;
            }
            pending.append(line);
            String joined = pending.toString().strip();
            pending.setLength(0);
            if (!joined.isEmpty()) {
                String[] parts = joined.split("\\s+", 2);
                instructions.add(new Instruction(parts[0].toUpperCase(Locale.ROOT),
                        parts.length > 1 ? parts[1].replaceAll("\\s+", " ").strip() : ""));
            }
        }

        List<Instruction> globalArgs = new ArrayList<>();
        List<Stage> stages = new ArrayList<>();
        List<Instruction> current = null;
        for (Instruction instruction : instructions) {
            if (instruction.keyword().equals("FROM")) {
                Matcher m = FROM.matcher(instruction.arguments());
                if (!m.matches()) {
                    throw new IllegalArgumentException("unreadable FROM: " + instruction.arguments());
                }
                current = new ArrayList<>();
                String name = m.group(2) == null ? String.valueOf(stages.size()) : m.group(2);
                stages.add(new Stage(name, m.group(1), current));
            } else if (current == null) {
                globalArgs.add(instruction);
            } else {
                current.add(instruction);
            }
        }
        return new DockerfileModel(List.copyOf(globalArgs), List.copyOf(stages));
    }

    Stage stage(String name) {
        return stages.stream().filter(s -> s.name().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no stage named " + name));
    }

    Stage finalStage() {
        return stages.get(stages.size() - 1);
    }

    /** Default of a global ARG (declared before the first FROM), empty when it has none. */
    Optional<String> globalArgDefault(String name) {
        for (Instruction arg : globalArgs) {
            String[] kv = arg.arguments().split("=", 2);
            if (kv[0].equals(name)) {
                return kv.length == 2 ? Optional.of(unquote(kv[1])) : Optional.empty();
            }
        }
        return Optional.empty();
    }

    private static String unquote(String value) {
        return value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")
                ? value.substring(1, value.length() - 1)
                : value;
    }
}
