package dev.reftserver.console;

import static org.assertj.core.api.Assertions.assertThat;

import dev.reftserver.intervention.UploadFixtures;
import dev.reftserver.model.ModelShape;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;

/**
 * The web console in headless Chromium against the whole server on the default model, in keyed mode (an admin
 * key, tenants with keys) and with the Zephyr chat template the chat reference uses for stories15M. What the
 * pages show is checked against the API's own answers.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "reft.security.admin-key=" + ConsoleBrowserTest.ADMIN_KEY,
        "reft.model.chat-template=" + ConsoleBrowserTest.ZEPHYR})
class ConsoleBrowserTest {

    static final String ADMIN_KEY = "console-admin-key";
    static final String ZEPHYR = "src/test/resources/reference/chat/HuggingFaceH4-zephyr-7b-beta.jinja";
    private static final ModelShape STORIES15M = new ModelShape(288, 6);
    private static final Path STORE = tempDir("reft-console-store");
    private static final Path FILES = tempDir("reft-console-uploads");

    @DynamicPropertySource
    static void storePath(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", STORE::toString);
    }

    @LocalServerPort
    int port;

    private ConsoleApi api;
    private Browser browser;

    @BeforeEach
    void client() {
        api = new ConsoleApi(port);
    }

    @AfterEach
    void closeBrowser() {
        if (browser != null) {
            try {
                assertThat(browser.problems()).as("script errors or CSP violations on the pages").isEmpty();
            } finally {
                browser.close();
            }
        }
    }

    @AfterAll
    static void deleteUploads() throws IOException {
        try (var files = Files.walk(FILES)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @Test
    void signsInAndStreamsBaseAndInterventionSideBySideAsTheApiAnswersGreedily() {
        browser = Browser.open(port);
        String key = api.newTenant(ADMIN_KEY, unique("play"));
        upload(key, "frog", 11);
        String prompt = "Once upon a time";
        int maxTokens = 24;

        browser.get("/");
        browser.await("#sign-in-form");
        signIn(key);
        browser.await("#playground-form");
        awaitOption("#column-2", "frog@1");
        WebElement promptBox = browser.find("#prompt");
        promptBox.clear();
        promptBox.sendKeys(prompt);
        new Select(browser.find("#column-1")).selectByValue("stories15M");
        new Select(browser.find("#column-2")).selectByValue("frog@1");
        setText("#temperature", "0");
        setText("#max_tokens", String.valueOf(maxTokens));
        browser.find("#run").click();
        awaitDone("#col-1");
        awaitDone("#col-2");
        browser.screenshot("playground");

        ConsoleApi.Answer base = api.greedy(key, "stories15M", prompt, maxTokens);
        ConsoleApi.Answer frog = api.greedy(key, "frog@1", prompt, maxTokens);
        String baseText = base.body().get("choices").get(0).get("text").asString();
        String frogText = frog.body().get("choices").get(0).get("text").asString();
        assertThat(frogText).as("the intervention changes the text").isNotEqualTo(baseText);
        assertThat(browser.textContent("#col-1-output")).isEqualTo(baseText);
        assertThat(browser.textContent("#col-2-output")).isEqualTo(frogText);
        assertThat(browser.textContent("#col-1-applied")).isEqualTo("none");
        assertThat(browser.textContent("#col-2-applied")).isEqualTo("frog@1");
        JsonNode usage = base.body().get("usage");
        assertThat(browser.textContent("#col-1-tokens"))
                .isEqualTo(usage.get("prompt_tokens").asInt() + " / " + usage.get("completion_tokens").asInt());
        assertThat(browser.textContent("#col-2-finish")).isEqualTo("length");
        assertThat(browser.textContent("#col-1-ttft")).matches("\\d+ ms");
        assertThat(browser.textContent("#col-2-rate")).matches("\\d+\\.\\d");
        // the key stays in this tab's session storage, never in the address
        assertThat(browser.script("return sessionStorage.getItem('reft.console.tenantKey')")).isEqualTo(key);
        assertThat(browser.driver.getCurrentUrl()).doesNotContain(key);
    }

    @Test
    void uploadsABundleAndShowsEachRefusalAtTheFieldItsParamNames() throws IOException {
        browser = Browser.open(port);
        String key = api.newTenant(ADMIN_KEY, unique("upload"));
        browser.get("/#/registry");
        signIn(key);
        browser.awaitText("#interventions", "No interventions yet");

        Path valid = file("otter.zip", UploadFixtures.nativeLoreft(21, STORIES15M, List.of(1, 3), 4, "f5+l5", 1.0));
        browser.find("#upload-bundle").sendKeys(valid.toString());
        browser.find("#upload").click();
        String stored = browser.awaitText("#upload-form .form-message.ok", "Stored otter@1");
        assertThat(stored).isEqualTo("Stored otter@1: loreft, layers 1, 3, rank 4, positions f5+l5.");
        browser.await("#interventions tr[data-id='otter@1']");
        JsonNode listed = api.get("/v1/interventions/otter", key).body().get("data").get(0);
        assertThat(browser.find("#interventions tr[data-id='otter@1'] .sha").getDomAttribute("title"))
                .isEqualTo(listed.get("sha256").asString());

        // a pyreft directory for another hidden size: refused for the bundle field
        byte[] wrongSize = UploadFixtures.pyreftLoreft(1, 256);
        ConsoleApi.Answer refused = api.upload(key, "wide.zip", wrongSize, Map.of("positions", "l1"));
        assertThat(refused.status()).isEqualTo(400);
        assertThat(refused.body().get("error").get("param").asString()).isEqualTo("bundle");
        browser.find("#upload-bundle").sendKeys(file("wide.zip", wrongSize).toString());
        browser.find("#upload-positions").sendKeys("l1");
        browser.find("#upload").click();
        String message = refused.body().get("error").get("message").asString();
        assertThat(browser.awaitText("#upload-bundle-error", message))
                .isEqualTo(message + " (" + refused.body().get("error").get("code").asString() + ")");
        assertThat(browser.find("#upload-bundle").getDomAttribute("aria-invalid")).isEqualTo("true");
        assertThat(browser.find("#upload-name-error").isDisplayed()).isFalse();
        browser.screenshot("registry-upload-error");

        // a bad name: refused for the name field, and the bundle field is clear again
        ConsoleApi.Answer badName = api.upload(key, "otter.zip", Files.readAllBytes(valid),
                Map.of("name", "no spaces"));
        assertThat(badName.body().get("error").get("param").asString()).isEqualTo("name");
        browser.find("#upload-bundle").sendKeys(valid.toString());
        browser.find("#upload-positions").clear();
        browser.find("#upload-name").sendKeys("no spaces");
        browser.find("#upload").click();
        browser.awaitText("#upload-name-error", badName.body().get("error").get("message").asString());
        assertThat(browser.find("#upload-bundle-error").isDisplayed()).isFalse();
        assertThat(api.get("/v1/interventions", key).body().get("data")).hasSize(1);
    }

    @Test
    void editsARouteWeightAndShowsWhyARoutedVersionCannotBeDeleted() {
        browser = Browser.open(port);
        String key = api.newTenant(ADMIN_KEY, unique("routes"));
        upload(key, "frog", 31);
        upload(key, "frog", 32);
        assertThat(api.put("/v1/tasks/greeter", key, """
                {"routes":[{"intervention":"frog@1","weight":90},{"intervention":"frog@2","weight":10}]}""")
                .status()).isEqualTo(200);

        browser.get("/#/registry");
        signIn(key);
        browser.await("form[data-task='greeter']");
        assertThat(browser.textContent("form[data-task='greeter'] .route:nth-child(2) .share")).isEqualTo("10%");
        WebElement weight = browser.find("#task-greeter-weight-1");

        // the server's refusal lands on the route's weight field
        weight.clear();
        weight.sendKeys("0");
        browser.find("form[data-task='greeter'] button[type=submit]").click();
        assertThat(browser.awaitText("#task-greeter-weight-1-error", "positive integer"))
                .isEqualTo("each route needs a positive integer weight");
        weight.clear();
        weight.sendKeys("30");
        browser.find("form[data-task='greeter'] button[type=submit]").click();
        assertThat(browser.awaitText("form[data-task='greeter'] .form-message.ok", "Saved"))
                .isEqualTo("Saved: frog@1 × 90, frog@2 × 30.");
        assertThat(browser.textContent("form[data-task='greeter'] .route:nth-child(2) .share")).isEqualTo("25%");
        JsonNode routes = api.get("/v1/tasks/greeter", key).body().get("routes");
        assertThat(routes.get(0).get("weight").asInt()).isEqualTo(90);
        assertThat(routes.get(1).get("intervention").asString()).isEqualTo("frog@2");
        assertThat(routes.get(1).get("weight").asInt()).isEqualTo(30);

        // frog@1 is routed: the API refuses its deletion, and the page says why
        ConsoleApi.Answer conflict = api.delete("/v1/interventions/frog/versions/1", key);
        assertThat(conflict.status()).isEqualTo(409);
        browser.find("button[aria-label='Delete frog@1']").click();
        new WebDriverWait(browser.driver, Duration.ofSeconds(5)).until(ExpectedConditions.alertIsPresent()).accept();
        String shown = browser.awaitText("#registry-message", "Cannot delete frog@1");
        assertThat(shown).contains(conflict.body().get("error").get("message").asString());
        browser.screenshot("registry");
        assertThat(api.get("/v1/interventions/frog/versions/1", key).status()).isEqualTo(200);
    }

    @Test
    void operationsShowsTheEngineLiveAndCreatesATenantWithTheAdminKey() {
        browser = Browser.open(port);
        String existing = unique("ops");
        String key = api.newTenant(ADMIN_KEY, existing);
        browser.get("/#/operations");
        browser.awaitText("#main", "needs the admin key");
        signIn(ADMIN_KEY);
        browser.await("article[data-tenant='" + existing + "']");
        new WebDriverWait(browser.driver, Duration.ofSeconds(10))
                .until(d -> browser.textContent("#stat-rate").matches("\\d+\\.\\d"));
        assertThat(browser.textContent("#stat-queue")).isEqualTo("0");

        // while a long generation runs, the live view shows tokens being made
        CompletableFuture<ConsoleApi.Answer> generation = CompletableFuture.supplyAsync(
                () -> api.greedy(key, "stories15M", "Once upon a time", 240));
        new WebDriverWait(browser.driver, Duration.ofSeconds(60))
                .until(d -> Double.parseDouble(browser.textContent("#stat-rate")) > 0);
        browser.screenshot("operations");
        assertThat(generation.join().status()).isEqualTo(200);

        String created = unique("new");
        browser.find("#tenant-name").sendKeys(created);
        browser.find("#tenant-rpm").sendKeys("600");
        browser.find("#tenant-form button[type=submit]").click();
        String shownKey = browser.await("#issued-key code").getText();
        assertThat(shownKey).startsWith("rk-");
        JsonNode tenant = api.get("/admin/tenants/" + created, ADMIN_KEY).body();
        assertThat(tenant.get("requests_per_minute").asInt()).isEqualTo(600);
        assertThat(api.get("/v1/models", shownKey).status()).isEqualTo(200);
        String card = "article[data-tenant='" + created + "']";
        browser.await(card);

        // its limits and keys, from its card
        browser.find("#tenant-" + created + "-tpm").sendKeys("50000");
        browser.find(card + " form button[type=submit]").click();
        browser.awaitText(card + " .form-message.ok", "Saved");
        JsonNode limited = api.get("/admin/tenants/" + created, ADMIN_KEY).body();
        assertThat(limited.get("requests_per_minute").asInt()).isEqualTo(600);
        assertThat(limited.get("tokens_per_minute").asInt()).isEqualTo(50000);
        browser.find(card + " button[aria-expanded]").click();
        String keyId = api.get("/admin/tenants/" + created + "/keys", ADMIN_KEY).body().get("data").get(0).get("id")
                .asString();
        browser.awaitText(card + " .keys", keyId);

        // the duplicate is refused by the server, shown at the name field
        browser.find("#tenant-name").sendKeys(created);
        browser.find("#tenant-form button[type=submit]").click();
        browser.awaitText("#tenant-name-error", "already exists (tenant_exists)");
    }

    @Test
    void chatsWithBaseAndInterventionSideBySideAsTheChatApiAnswersGreedily() {
        browser = Browser.open(port);
        String key = api.newTenant(ADMIN_KEY, unique("chat"));
        upload(key, "frog", 12);
        String system = "You are a storyteller for children.";
        String user = "Tell me about a cat.";
        int maxTokens = 20;

        browser.get("/#/playground");
        signIn(key);
        browser.await("#playground-form");
        awaitOption("#column-2", "frog@1");
        new WebDriverWait(browser.driver, Duration.ofSeconds(20)).until(d -> browser.find("#mode-chat").isEnabled());
        assertThat(browser.textContent("#chat-note")).isEqualTo("Chat sends the messages through the model's chat template.");
        browser.find("#mode-chat").click();
        browser.await("#system").sendKeys(system);
        WebElement message = browser.find("#prompt");
        message.clear();
        message.sendKeys(user);
        new Select(browser.find("#column-2")).selectByValue("frog@1");
        setText("#temperature", "0");
        setText("#max_tokens", String.valueOf(maxTokens));
        browser.find("#run").click();
        awaitDone("#col-1");
        awaitDone("#col-2");

        ConsoleApi.Answer base = api.greedyChat(key, "stories15M", system, user, maxTokens);
        ConsoleApi.Answer frog = api.greedyChat(key, "frog@1", system, user, maxTokens);
        assertThat(base.status()).as(base.raw().body()).isEqualTo(200);
        String baseText = base.body().get("choices").get(0).get("message").get("content").asString();
        String frogText = frog.body().get("choices").get(0).get("message").get("content").asString();
        assertThat(frogText).as("the intervention changes the reply").isNotEqualTo(baseText);
        assertThat(browser.textContent("#col-1-output")).isEqualTo(baseText);
        assertThat(browser.textContent("#col-2-output")).isEqualTo(frogText);
        assertThat(browser.textContent("#col-2-applied")).isEqualTo("frog@1");
        JsonNode usage = base.body().get("usage");
        assertThat(browser.textContent("#col-1-tokens"))
                .isEqualTo(usage.get("prompt_tokens").asInt() + " / " + usage.get("completion_tokens").asInt());
    }

    @Test
    void trainsATinyJobDrawingItsLossLiveThenOpensTheNewVersionInThePlayground() throws IOException {
        browser = Browser.open(port);
        String key = api.newTenant(ADMIN_KEY, unique("train"));
        String suffix = unique("whale");
        browser.get("/#/training");
        signIn(key);
        browser.awaitText("#files", "No training files yet");
        browser.awaitText("#jobs", "No jobs yet");

        // a bad line is refused, and the server's message names it at the file field
        String bad = """
                {"prompt": "Once upon a time, there was a kind old owl.", "completion": " And then a whale sang."}
                {"prompt": "Lily went to the park."}
                """;
        ConsoleApi.Answer refused = api.uploadTrainingFile(key, "bad.jsonl", bad);
        assertThat(refused.status()).isEqualTo(400);
        String why = refused.body().get("error").get("message").asString();
        assertThat(why).startsWith("line 2 ");
        browser.find("#train-file").sendKeys(file("bad.jsonl", bad.getBytes(java.nio.charset.StandardCharsets.UTF_8))
                .toString());
        browser.find("#upload-file").click();
        assertThat(browser.awaitText("#train-file-error", "line 2")).isEqualTo(why);
        assertThat(browser.find("#train-file").getDomAttribute("aria-invalid")).isEqualTo("true");

        String good = """
                {"prompt": "Once upon a time, there was a kind old owl.", "completion": " And then a whale sang."}
                {"prompt": "Lily went to the park with her mom.", "completion": " And then a whale sang."}
                """;
        browser.find("#train-file").sendKeys(file("whale.jsonl", good.getBytes(java.nio.charset.StandardCharsets.UTF_8))
                .toString());
        browser.find("#upload-file").click();
        assertThat(browser.awaitText("#file-form .form-message.ok", "Stored")).endsWith("(whale.jsonl): 2 examples.");
        assertThat(browser.find("#train-file-error").isDisplayed()).isFalse();
        String fileId = api.get("/v1/files", key).body().get("data").get(0).get("id").asString();
        browser.await("#files-table tr[data-id='" + fileId + "']");
        assertThat(new Select(browser.find("#job-file")).getFirstSelectedOption().getDomAttribute("value"))
                .isEqualTo(fileId);

        // a refused hyperparameter lands at its field
        setText("#job-layers", "9");
        browser.find("#start-job").click();
        assertThat(browser.awaitText("#job-layers-error", "layer 9"))
                .isEqualTo("layer 9 is not one of the model's layers 0 to 5");

        setText("#job-suffix", suffix);
        setText("#job-layers", "3");
        setText("#job-positions", "l1");
        setText("#job-max-steps", "3");
        setText("#job-lr", "0.01");
        // the same examples held out too: with one batch per epoch each update is scored on them
        new Select(browser.find("#job-validation-file")).selectByValue(fileId);
        browser.find("#start-job").click();
        browser.awaitText("#job-form .form-message.ok", "Started ftjob-");
        String jobId = api.get("/v1/fine_tuning/jobs", key).body().get("data").get(0).get("id").asString();
        assertThat(browser.find("#job").getDomAttribute("data-job")).isEqualTo(jobId);

        // the chart gets one point per step from the event stream, and the job succeeds
        new WebDriverWait(browser.driver, Duration.ofSeconds(120))
                .until(d -> "3".equals(browser.find("#loss-chart").getDomAttribute("data-points")));
        new WebDriverWait(browser.driver, Duration.ofSeconds(30))
                .until(d -> "succeeded".equals(browser.find("#job").getDomAttribute("data-status")));
        JsonNode job = api.get("/v1/fine_tuning/jobs/" + jobId, key).body();
        assertThat(job.get("status").asString()).isEqualTo("succeeded");
        String version = job.get("fine_tuned_model").asString();
        assertThat(version).isEqualTo(suffix + "@1");
        JsonNode hp = job.get("method").get("reft").get("hyperparameters");
        assertThat(hp.get("layers").get(0).asInt()).isEqualTo(3);
        assertThat(hp.get("positions").asString()).isEqualTo("l1");
        assertThat(hp.get("learning_rate").asDouble()).isEqualTo(0.01);
        assertThat(hp.get("max_steps").asInt()).isEqualTo(3);
        assertThat(job.get("validation_file").asString()).isEqualTo(fileId);

        // the points are the API's metrics events, step by step
        List<Double> apiLosses = new java.util.ArrayList<>();
        List<Double> apiValidLosses = new java.util.ArrayList<>();
        List<Double> apiFullValidLosses = new java.util.ArrayList<>();
        for (JsonNode e : api.get("/v1/fine_tuning/jobs/" + jobId + "/events?limit=100", key).body().get("data")) {
            if ("metrics".equals(e.get("type").asString())) {
                apiLosses.add(0, e.get("data").get("train_loss").asDouble());
                apiValidLosses.add(0, e.get("data").get("valid_loss").asDouble());
                apiFullValidLosses.add(0, e.get("data").get("full_valid_loss").asDouble());
            }
        }
        assertThat(apiLosses).hasSize(3);
        assertThat(browser.driver.findElements(By.cssSelector("#loss-table td.valid-loss")).stream()
                .map(c -> Double.parseDouble(c.getDomProperty("textContent"))).toList()).isEqualTo(apiValidLosses);
        assertThat(browser.driver.findElements(By.cssSelector("#loss-table td.full-valid-loss")).stream()
                .map(c -> Double.parseDouble(c.getDomProperty("textContent"))).toList())
                .isEqualTo(apiFullValidLosses);
        List<Double> drawn = browser.driver.findElements(By.cssSelector("#loss-chart circle.train")).stream()
                .map(c -> Double.parseDouble(c.getDomAttribute("data-loss"))).toList();
        assertThat(drawn).isEqualTo(apiLosses);
        // each step's validation loss (its batch of the file) is the chart's second line
        List<Double> drawnValid = browser.driver.findElements(By.cssSelector("#loss-chart circle.valid")).stream()
                .map(c -> Double.parseDouble(c.getDomAttribute("data-valid-loss"))).toList();
        assertThat(drawnValid).isEqualTo(apiValidLosses);
        assertThat(browser.find("#loss-chart .legend").getDomAttribute("visibility")).isEqualTo("visible");
        // the loss axis spans the losses with a little room, not 0 to the highest, so their fall shows
        List<Double> all = new java.util.ArrayList<>(apiLosses);
        all.addAll(apiValidLosses);
        double low = all.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
        double high = all.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
        double yMin = Double.parseDouble(browser.find("#loss-chart").getDomAttribute("data-y-min"));
        double yMax = Double.parseDouble(browser.find("#loss-chart").getDomAttribute("data-y-max"));
        assertThat(yMin).as("axis bottom for losses " + all).isLessThan(low).isGreaterThan(0);
        assertThat(yMax).as("axis top for losses " + all).isGreaterThan(high);
        assertThat(yMax - yMin).as("axis range for losses " + all).isLessThan(high);
        List<Double> yLabels = browser.driver.findElements(By.cssSelector("#loss-chart text.y-tick")).stream()
                .map(t -> Double.parseDouble(t.getText())).toList();
        assertThat(yLabels).hasSizeBetween(3, 6).doesNotHaveDuplicates().isSorted();
        assertThat(yLabels.get(0)).isEqualTo(yMin);
        assertThat(yLabels.get(yLabels.size() - 1)).isEqualTo(yMax);
        assertThat(browser.textContent("#loss-summary")).startsWith("Step 3 of 3: loss ")
                .contains(String.format(java.util.Locale.ROOT, ", validation loss %.4f,", apiValidLosses.get(2)));
        browser.awaitText("#jobs-table tr[data-id='" + jobId + "'] .state", "succeeded");
        // each update ended an epoch: the first two left checkpoints, listed with the result, newest first
        new WebDriverWait(browser.driver, Duration.ofSeconds(10))
                .until(d -> d.findElements(By.cssSelector("#job-checkpoints li")).size() == 3);
        assertThat(browser.driver.findElements(By.cssSelector("#job-checkpoints li")).stream()
                .map(li -> li.getDomAttribute("data-step")).toList()).containsExactly("3", "2", "1");
        assertThat(browser.driver.findElements(By.cssSelector("#job-checkpoints li a")).stream()
                .map(a -> a.getDomProperty("textContent")).toList()).containsExactly(
                        "Open " + version + " in the playground",
                        "Open " + jobId + ".ckpt-step-2@1 in the playground",
                        "Open " + jobId + ".ckpt-step-1@1 in the playground");
        browser.screenshot("training");

        // the new version, one click away in the playground
        browser.find("#job-actions a").click();
        browser.await("#playground-form");
        awaitOption("#column-2", version);
        new WebDriverWait(browser.driver, Duration.ofSeconds(10))
                .until(d -> version.equals(new Select(browser.find("#column-2")).getFirstSelectedOption()
                        .getDomAttribute("value")));
        assertThat(java.net.URLDecoder.decode(browser.driver.getCurrentUrl(), java.nio.charset.StandardCharsets.UTF_8))
                .endsWith("#/playground?model=" + version);
    }

    /** A tenant's key and a long job of it, training, its page open with a point drawn. */
    private String[] runningJobOnItsPage(String tenant) {
        browser = Browser.open(port);
        String key = api.newTenant(ADMIN_KEY, unique(tenant));
        String fileId = api.uploadTrainingFile(key, "long.jsonl", """
                {"prompt": "Tom had a red ball.", "completion": " He threw it high."}
                """).body().get("id").asString();
        ConsoleApi.Answer created = api.post("/v1/fine_tuning/jobs", key, """
                {"model": "stories15M", "training_file": "%s", "suffix": "long",
                 "method": {"type": "reft", "reft": {"hyperparameters": {"layers": [3], "max_steps": 5000}}}}"""
                .formatted(fileId));
        assertThat(created.status()).as(created.raw().body()).isEqualTo(200);
        String jobId = created.body().get("id").asString();
        browser.get("/#/training?job=" + jobId);
        signIn(key);
        browser.await("#job[data-job='" + jobId + "']");
        new WebDriverWait(browser.driver, Duration.ofSeconds(60)).until(d -> !browser.driver
                .findElements(By.cssSelector("#loss-chart circle")).isEmpty());
        return new String[] {key, jobId};
    }

    /** Clicks a button of the job's page and waits until the page shows the job in {@code status}. */
    private void clickAndAwaitStatus(String button, String status) {
        browser.find(button).click();
        new WebDriverWait(browser.driver, Duration.ofSeconds(30))
                .until(d -> status.equals(browser.find("#job").getDomAttribute("data-status")));
    }

    @Test
    void cancelsARunningJobFromItsPage() {
        String[] job = runningJobOnItsPage("cancel");
        String key = job[0];
        String jobId = job[1];
        clickAndAwaitStatus("#cancel-job", "cancelled");
        assertThat(api.get("/v1/fine_tuning/jobs/" + jobId, key).body().get("status").asString())
                .isEqualTo("cancelled");
        browser.awaitText("#jobs-table tr[data-id='" + jobId + "'] .state", "cancelled");
        assertThat(browser.driver.findElements(By.id("cancel-job"))).isEmpty();
    }

    @Test
    void pausesAndResumesARunningJobFromItsPage() {
        String[] job = runningJobOnItsPage("pause");
        String key = job[0];
        String jobId = job[1];
        clickAndAwaitStatus("#pause-job", "paused");
        assertThat(api.get("/v1/fine_tuning/jobs/" + jobId, key).body().get("status").asString())
                .isEqualTo("paused");
        assertThat(browser.driver.findElements(By.id("pause-job"))).isEmpty();
        clickAndAwaitStatus("#resume-job", "running");
        assertThat(browser.driver.findElements(By.id("resume-job"))).isEmpty();
        clickAndAwaitStatus("#cancel-job", "cancelled");
    }

    @Test
    void adminStatsAnswersTheAdminKeyOnly() {
        assertThat(api.get("/admin/stats", null).status()).isEqualTo(401);
        String key = api.newTenant(ADMIN_KEY, unique("stats"));
        assertThat(api.get("/admin/stats", key).status()).isEqualTo(401);
        long before = api.get("/admin/stats", ADMIN_KEY).body().get("generated_tokens").asLong();
        assertThat(api.greedy(key, "stories15M", "Hello", 5).status()).isEqualTo(200);
        JsonNode stats = api.get("/admin/stats", ADMIN_KEY).body();
        assertThat(stats.get("object").asString()).isEqualTo("engine.stats");
        assertThat(stats.get("generated_tokens").asLong()).isGreaterThanOrEqualTo(before + 5);
        assertThat(stats.get("queue_depth").asLong()).isZero();
        assertThat(stats.get("kv_cache_capacity_tokens").asLong()).isPositive();
    }

    @Test
    void everyPageFitsAPhoneWidthWithoutSidewaysScrolling() {
        browser = Browser.open(port);
        String key = api.newTenant(ADMIN_KEY, unique("phone"));
        upload(key, "frog", 41);
        browser.size(390, 844);
        browser.get("/");
        signIn(key);
        browser.await("#playground-form");
        awaitOption("#column-2", "frog@1");
        assertFitsWidth();
        browser.screenshot("playground-phone");
        browser.get("/#/registry");
        browser.await("#interventions tr[data-id='frog@1']");
        assertFitsWidth();
        browser.get("/#/training");
        browser.await("#job-form");
        assertFitsWidth();
        browser.get("/#/operations");
        signIn(ADMIN_KEY);
        browser.await("#tenant-form");
        assertFitsWidth();
    }

    private void assertFitsWidth() {
        Object overflow = browser.script("return document.documentElement.scrollWidth - window.innerWidth");
        assertThat(((Number) overflow).longValue()).as("page wider than the viewport").isLessThanOrEqualTo(0);
    }

    private void signIn(String key) {
        WebElement input = browser.await("#sign-in-key");
        input.sendKeys(key);
        input.submit();
        new WebDriverWait(browser.driver, Duration.ofSeconds(10))
                .until(ExpectedConditions.invisibilityOfElementLocated(By.id("sign-in-form")));
    }

    private void setText(String css, String value) {
        WebElement e = browser.find(css);
        e.clear();
        e.sendKeys(value);
    }

    private void awaitOption(String selectCss, String value) {
        new WebDriverWait(browser.driver, Duration.ofSeconds(20)).until(ExpectedConditions.presenceOfElementLocated(
                By.cssSelector(selectCss + " option[value='" + value + "']")));
    }

    private void awaitDone(String column) {
        new WebDriverWait(browser.driver, Duration.ofSeconds(90)).until(d -> {
            String state = browser.find(column).getDomAttribute("data-state");
            if ("error".equals(state)) {
                throw new AssertionError(column + ": " + browser.textContent(column + "-status"));
            }
            return "done".equals(state);
        });
    }

    private void upload(String key, String name, long seed) {
        ConsoleApi.Answer a = api.upload(key, name + ".zip",
                UploadFixtures.nativeLoreft(seed, STORIES15M, List.of(1, 3), 4, "f5+l5", 2.0), Map.of("name", name));
        assertThat(a.status()).as(a.raw().body()).isEqualTo(201);
    }

    /** A file the browser can pick, under its own name (the server names an upload after its file). */
    private static Path file(String name, byte[] bytes) throws IOException {
        return Files.write(Files.createTempDirectory(FILES, "upload").resolve(name), bytes);
    }

    static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    static Path tempDir(String prefix) {
        try {
            return Files.createTempDirectory(prefix);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
