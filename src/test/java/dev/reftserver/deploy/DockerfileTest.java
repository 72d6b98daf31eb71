package dev.reftserver.deploy;

import static dev.reftserver.deploy.RepoFiles.map;
import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.deploy.DockerfileModel.Instruction;
import dev.reftserver.deploy.DockerfileModel.Stage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DockerfileTest {

    private final DockerfileModel dockerfile = DockerfileModel.parse(RepoFiles.read("Dockerfile"));
    private final Stage runtime = dockerfile.stage("runtime");

    @Test
    void buildsInAMavenJdk17StageAndShipsTheRuntimeStage() {
        Stage build = dockerfile.stage("build");
        assertThat(build.base()).startsWith("maven:").contains("temurin-17");
        assertThat(dockerfile.finalStage().name()).isEqualTo("runtime");
        assertThat(runtime.all("COPY")).extracting(Instruction::arguments)
                .anyMatch(a -> a.startsWith("--from=build ") && a.endsWith(" /tmp/reft-server.jar"));
        // extracted into /app: /app/reft-server.jar and its lib/
        assertThat(runtime.all("RUN")).extracting(Instruction::arguments)
                .anyMatch(a -> a.startsWith("java -Djarmode=tools -jar /tmp/reft-server.jar extract --destination /app"));
    }

    @Test
    void classDataArchiveIsMadeAtBuildTimeFailingSoftAndUsedByTheEntrypoint() {
        String archive = "/app/reft-server.jsa";
        String run = runtime.all("RUN").stream().map(Instruction::arguments)
                .filter(a -> a.contains("-XX:ArchiveClassesAtExit=" + archive)).findFirst().orElseThrow();
        // a start on the default model and a scratch store that exits after the context refresh, with no network
        assertThat(run).contains("-Dspring.context.exit=onRefresh", "DJL_OFFLINE=true",
                "--reft.model.path=/models/stories15M/stories15M.bin", "--reft.store.path=/tmp/");
        // a failed start removes a partial archive and does not fail the build
        assertThat(run).contains("|| (echo \"no class data archive:\"", "rm -f " + archive);
        assertThat(runtime.all("ENTRYPOINT")).extracting(Instruction::arguments)
                .allMatch(a -> a.contains("\"-XX:SharedArchiveFile=" + archive + "\""));
    }

    @Test
    void cachesDependenciesInALayerBeforeCopyingSources() {
        List<Instruction> build = dockerfile.stage("build").instructions();
        int copyPom = indexOf(build, "COPY", "pom.xml .");
        int resolve = indexOf(build, "RUN", "mvn -B -q dependency:go-offline");
        int copySrc = indexOf(build, "COPY", "src ./src");
        assertThat(copyPom).isNotNegative().isLessThan(resolve);
        assertThat(resolve).isLessThan(copySrc);
    }

    @Test
    void mavenPackageCommandIsTheOneTheDeploymentGuideDocuments() {
        List<String> packageRuns = dockerfile.stage("build").all("RUN").stream()
                .map(Instruction::arguments)
                .filter(a -> a.startsWith("mvn ") && a.contains("package"))
                .toList();
        assertThat(packageRuns).containsExactly("mvn -B -DskipTests package");
        assertThat(RepoFiles.codeLines("docs/deployment.md")).contains(packageRuns.get(0));
    }

    @Test
    void fetchesTheModelWithTheRepositoryScriptAndCopiesItIntoTheRuntime() {
        Stage model = dockerfile.stage("model");
        assertThat(model.all("COPY")).extracting(Instruction::arguments)
                .anyMatch(a -> a.startsWith("scripts/fetch-model.sh "));
        assertThat(model.all("RUN")).extracting(Instruction::arguments)
                .anyMatch(a -> a.contains("fetch-model.sh /models/stories15M"));
        assertThat(runtime.all("COPY")).extracting(Instruction::arguments)
                .anyMatch(a -> a.startsWith("--from=model ") && a.endsWith("/models /models"));
        assertThat(runtime.env("REFT_MODEL_PATH")).hasValue("/models/stories15M/stories15M.bin");
    }

    @Test
    void runsAsTheNonRootUserItCreates() {
        List<Instruction> users = runtime.all("USER");
        assertThat(users).isNotEmpty();
        String user = users.get(users.size() - 1).arguments();
        String uid = user.split(":")[0];
        assertThat(uid).isNotIn("root", "0");
        assertThat(runtime.all("RUN")).extracting(Instruction::arguments)
                .anyMatch(a -> a.contains("useradd") && a.contains("--uid " + uid));
    }

    @Test
    void keepsDjlOfflineWithACacheTheUserCanWrite() {
        assertThat(runtime.env("DJL_OFFLINE")).hasValue("true");
        String cache = runtime.env("DJL_CACHE_DIR").orElseThrow();
        assertThat(runtime.env("ENGINE_CACHE_DIR")).hasValue(cache);
        assertThat(runtime.all("VOLUME")).extracting(Instruction::arguments)
                .anyMatch(a -> a.contains("\"" + cache + "\""));
        assertThat(runtime.all("RUN")).extracting(Instruction::arguments)
                .anyMatch(a -> a.contains("chown reft:reft") && a.contains(cache));
    }

    @Test
    void healthcheckProbesReadinessWithACurlTheImageInstalls() {
        List<Instruction> checks = runtime.all("HEALTHCHECK");
        assertThat(checks).hasSize(1);
        assertThat(checks.get(0).arguments()).contains("CMD curl ").contains("/readyz");
        assertThat(runtime.all("RUN")).extracting(Instruction::arguments)
                .anyMatch(a -> a.contains("apt-get install") && a.matches(".*\\bcurl\\b.*"));
        assertThat(runtime.all("EXPOSE")).extracting(Instruction::arguments).containsExactly("8080");
        // Outside Kubernetes Spring Boot serves the probe groups only when asked to.
        assertThat(runtime.env("MANAGEMENT_ENDPOINT_HEALTH_PROBES_ENABLED")).hasValue("true");
    }

    @Test
    void startsJavaAsPidOneSoSigtermReachesTheDrain() {
        List<Instruction> entrypoints = runtime.all("ENTRYPOINT");
        assertThat(entrypoints).extracting(Instruction::arguments)
                .containsExactly("[\"java\", \"-XX:SharedArchiveFile=/app/reft-server.jsa\", \"-Xlog:cds=off\", \"-jar\","
                        + " \"/app/reft-server.jar\"]");
    }

    @Test
    void variantArgSelectsACpuOrCudaBase() {
        assertThat(dockerfile.globalArgDefault("VARIANT")).hasValue("cpu");
        assertThat(runtime.base()).isEqualTo("base-${VARIANT}");
        assertThat(dockerfile.stage("base-cpu").base()).isEqualTo("${JRE_IMAGE}");
        assertThat(dockerfile.stage("base-cuda").base()).isEqualTo("${CUDA_IMAGE}");
        assertThat(dockerfile.globalArgDefault("CUDA_IMAGE").orElseThrow()).startsWith("nvidia/cuda:12.").contains("runtime");
        assertThat(dockerfile.globalArgDefault("JRE_IMAGE").orElseThrow()).startsWith("eclipse-temurin:17-jre");
    }

    @Test
    void cudaBasePointsDjlAtTheLibtorchItCopiesIn() {
        Stage cuda = dockerfile.stage("base-cuda");
        String libraryPath = cuda.env("PYTORCH_LIBRARY_PATH").orElseThrow();
        assertThat(cuda.all("COPY")).extracting(Instruction::arguments)
                .contains("--from=libtorch lib/ " + libraryPath + "/");
        // pytorch-jni ships its CUDA JNI library for the cu128 flavour only.
        assertThat(cuda.env("PYTORCH_FLAVOR")).hasValue("cu128");
        assertThat(RepoFiles.read("pom.xml")).contains("<pytorch.native.version>"
                + cuda.env("PYTORCH_VERSION").orElseThrow() + "</pytorch.native.version>");
    }

    @Test
    void imageAndHelmChartAgreeOnUserCachePathAndLibtorchLocation() {
        Map<String, Object> values = RepoFiles.yaml("helm/reft-server/values.yaml");
        List<Instruction> users = runtime.all("USER");
        String uid = users.get(users.size() - 1).arguments().split(":")[0];
        assertThat(String.valueOf(map(values.get("podSecurityContext")).get("runAsUser"))).isEqualTo(uid);
        assertThat(map(values.get("djlCache")).get("mountPath")).isEqualTo(runtime.env("DJL_CACHE_DIR").orElseThrow());
        Stage cuda = dockerfile.stage("base-cuda");
        assertThat(map(values.get("gpu")).get("pytorchLibraryPath"))
                .isEqualTo(cuda.env("PYTORCH_LIBRARY_PATH").orElseThrow());
        assertThat(map(values.get("gpu")).get("pytorchFlavor")).isEqualTo(cuda.env("PYTORCH_FLAVOR").orElseThrow());
    }

    @Test
    void deploymentGuideBuildsTheImageUnderThePomVersion() {
        String version = RepoFiles.pomVersion();
        assertThat(RepoFiles.codeLines("docs/deployment.md"))
                .contains("docker build -t reft-server:" + version + " .")
                .anyMatch(l -> l.startsWith("docker build --build-arg VARIANT=cuda --build-context libtorch=")
                        && l.endsWith("-t reft-server:" + version + "-cuda ."));
    }

    @Test
    void dockerignoreKeepsLocalStateOutButTheBuildInputsIn() {
        List<String> ignored = RepoFiles.read(".dockerignore").lines()
                .map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
        assertThat(ignored).contains(".git", "target", "models", "data");
        assertThat(ignored).doesNotContain("src", "pom.xml", "scripts");
        assertThat(Files.isRegularFile(Path.of("scripts/fetch-model.sh"))).isTrue();
    }

    private static int indexOf(List<Instruction> instructions, String keyword, String arguments) {
        for (int i = 0; i < instructions.size(); i++) {
            if (instructions.get(i).keyword().equals(keyword) && instructions.get(i).arguments().equals(arguments)) {
                return i;
            }
        }
        return -1;
    }
}
