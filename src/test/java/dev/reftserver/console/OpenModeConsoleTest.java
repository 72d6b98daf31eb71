package dev.reftserver.console;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The console against a server in open mode (no admin key, no tenants): no sign-in, the playground works at
 * once, and the operations page says the admin API is off. Also the page's own rules: its Content-Security-Policy
 * and that it loads nothing from anywhere but the server.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT)
class OpenModeConsoleTest {

    private static final Path STORE = ConsoleBrowserTest.tempDir("reft-console-open");

    @DynamicPropertySource
    static void storePath(DynamicPropertyRegistry registry) {
        registry.add("reft.store.path", STORE::toString);
    }

    @LocalServerPort
    int port;

    private ConsoleApi api;
    private Browser browser;

    @BeforeEach
    void openBrowser() {
        api = new ConsoleApi(port);
        browser = Browser.open(port);
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

    @Test
    void runsTheBaseModelWithoutAKeyAsTheApiAnswersGreedily() {
        browser.get("/");
        browser.await("#playground-form");
        assertThat(browser.awaitText("#session", "Open mode")).doesNotContain("Sign in");
        WebElement prompt = browser.find("#prompt");
        prompt.clear();
        prompt.sendKeys("The little dog");
        browser.find("#temperature").clear();
        browser.find("#temperature").sendKeys("0");
        browser.find("#max_tokens").clear();
        browser.find("#max_tokens").sendKeys("16");
        browser.find("#run").click();
        new WebDriverWait(browser.driver, Duration.ofSeconds(90))
                .until(d -> "done".equals(browser.find("#col-1").getDomAttribute("data-state")));

        String expected = api.greedy(null, "stories15M", "The little dog", 16).body().get("choices").get(0)
                .get("text").asString();
        assertThat(browser.textContent("#col-1-output")).isEqualTo(expected);
        assertThat(browser.textContent("#col-1-applied")).isEqualTo("none");
        assertThat(browser.textContent("#models-note")).startsWith("No interventions or tasks yet");
    }

    @Test
    void disablesChatModeWhenTheModelHasNoChatTemplate() {
        // this server is started without reft.model.chat-template: its chat API refuses every conversation
        ConsoleApi.Answer chat = api.post("/v1/chat/completions", null,
                "{\"model\": \"stories15M\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}");
        assertThat(chat.status()).isEqualTo(400);
        assertThat(chat.body().get("error").get("code").asString()).isEqualTo("no_chat_template");

        browser.get("/#/playground");
        browser.await("#playground-form");
        assertThat(browser.awaitText("#chat-note", "unavailable"))
                .isEqualTo("Chat mode is unavailable: this model has no chat template; set reft.model.chat-template.");
        assertThat(browser.find("#mode-chat").isEnabled()).isFalse();
        assertThat(browser.find("#mode-completion").isSelected()).isTrue();
        assertThat(browser.find("#mode-completion").isEnabled()).isTrue();
    }

    @Test
    void scalesTheLossAxisToTheLossesNotToZero() {
        browser.get("/#/training");
        browser.await("#main");
        @SuppressWarnings("unchecked")
        Map<String, Object> scale = (Map<String, Object>) browser.driver.executeAsyncScript(
                "const done = arguments[arguments.length - 1];"
                        + "import('/console/training.js').then(m => done(m.yScale([8.1, 7.9, 7.4])))");
        assertThat(((Number) scale.get("min")).doubleValue()).isEqualTo(7.0);
        assertThat(((Number) scale.get("max")).doubleValue()).isEqualTo(8.5);
        assertThat(((List<?>) scale.get("ticks")).stream().map(t -> ((Number) t).doubleValue()).toList())
                .containsExactly(7.0, 7.5, 8.0, 8.5);
        assertThat(((Number) scale.get("decimals")).intValue()).isEqualTo(1);
    }

    @Test
    void isUsableByKeyboardInReadingOrder() {
        browser.get("/");
        browser.await("#playground-form");
        List<String> order = new java.util.ArrayList<>();
        for (int i = 0; i < 6; i++) {
            browser.driver.switchTo().activeElement().sendKeys(org.openqa.selenium.Keys.TAB);
            order.add((String) browser.script("const e = document.activeElement; return e.id || e.textContent"));
        }
        assertThat(order).containsExactly("skip", "Playground", "Registry", "Training", "Operations",
                "mode-completion");

        // a link followed from the keyboard shows its page and moves focus to it
        browser.find("#nav a[data-page='registry']").sendKeys(org.openqa.selenium.Keys.ENTER);
        browser.await("#upload-form");
        assertThat(browser.script("return document.activeElement.id")).isEqualTo("main");
        assertThat(browser.find("#nav a[data-page='registry']").getDomAttribute("aria-current")).isEqualTo("page");
    }

    @Test
    void operationsSaysTheAdminApiIsOff() {
        browser.get("/#/operations");
        assertThat(browser.awaitText("#main", "admin API is disabled"))
                .contains("runs without an admin key (reft.security.admin-key)");
        assertThat(browser.driver.findElements(org.openqa.selenium.By.id("sign-in-form"))).isEmpty();
    }

    @Test
    void pagesCarryAStrictPolicyAndLoadNothingButTheServer() {
        for (String path : List.of("/", "/console/app.js", "/console/console.css")) {
            ConsoleApi.Answer page = api.get(path, null);
            assertThat(page.status()).as(path).isEqualTo(200);
            assertThat(page.header("Content-Security-Policy")).as(path)
                    .contains("default-src 'none'", "script-src 'self'", "connect-src 'self'")
                    .doesNotContain("unsafe-inline", "unsafe-eval");
        }
        assertThat(api.get("/v1/models", null).header("Content-Security-Policy")).isNull();

        browser.get("/#/registry");
        browser.awaitText("#interventions", "No interventions yet");
        browser.get("/#/playground");
        browser.await("#playground-form");
        @SuppressWarnings("unchecked")
        List<String> loaded = (List<String>) browser.script(
                "return performance.getEntriesByType('resource').map(e => e.name)");
        assertThat(loaded).isNotEmpty().allSatisfy(url -> assertThat(url).startsWith(browser.base() + "/"));

        // the browser enforces the policy: an injected inline script does not run, and is reported
        browser.script("const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
                + "document.head.append(s)");
        new WebDriverWait(browser.driver, Duration.ofSeconds(5)).until(d -> !browser.problems().isEmpty());
        assertThat(browser.script("return window.injected === undefined")).isEqualTo(true);
        assertThat(browser.problems()).singleElement().asString().contains("csp: script-src-elem");
        browser.script("sessionStorage.removeItem('test.problems')");
    }
}
