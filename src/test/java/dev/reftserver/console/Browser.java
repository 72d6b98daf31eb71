package dev.reftserver.console;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * Debian's headless Chromium driven through its chromedriver, both at fixed paths so nothing is downloaded.
 * Without Chromium the browser tests are skipped with a message, except in CI ({@code CI} set, and not to
 * {@code false}), where they fail.
 * Each browser gets a fresh profile, deleted on close.
 */
final class Browser implements AutoCloseable {

    static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    /** Where screenshots go when set (e.g. {@code docs/console}); unset, none are taken. */
    static final String SCREENSHOTS_ENV = "REFT_CONSOLE_SCREENSHOTS";

    /**
     * Runs before every page's own scripts: records uncaught errors, unhandled promise rejections and
     * Content-Security-Policy violations in the tab's sessionStorage, so they survive navigations.
     */
    private static final String RECORD_PROBLEMS = """
            (() => {
              const note = text => {
                try {
                  const all = JSON.parse(sessionStorage.getItem('test.problems') || '[]');
                  all.push(location.hash + ' ' + text);
                  sessionStorage.setItem('test.problems', JSON.stringify(all));
                } catch (e) { /* no storage on this page */ }
              };
              addEventListener('error', e => note('error: ' + e.message));
              addEventListener('unhandledrejection', e => note('unhandled: ' + (e.reason && e.reason.message
                  || e.reason)));
              document.addEventListener('securitypolicyviolation', e => note('csp: ' + e.violatedDirective
                  + ' ' + e.blockedURI));
            })();
            """;

    final ChromeDriver driver;
    private final Path profile;
    private final String base;

    private Browser(ChromeDriver driver, Path profile, String base) {
        this.driver = driver;
        this.profile = profile;
        this.base = base;
    }

    /** Skips the calling test when this machine has no Chromium, or fails it in CI. */
    static void assumeChromium() {
        boolean present = Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
        String ci = System.getenv("CI");
        if (!present && ci != null && !"false".equalsIgnoreCase(ci)) {
            fail("CI=true but " + CHROMIUM + " or " + CHROMEDRIVER + " is missing: install Debian's chromium and "
                    + "chromium-driver (.ci/run does)");
        }
        Assumptions.assumeTrue(present, "browser tests skipped: no " + CHROMIUM + " and " + CHROMEDRIVER
                + " (apt-get install chromium chromium-driver)");
    }

    /** A headless Chromium at 1280x800 pointed at {@code http://localhost:port}. */
    static Browser open(int port) {
        assumeChromium();
        Path profile;
        try {
            profile = Files.createTempDirectory("reft-console-chromium");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,800",
                "--user-data-dir=" + profile);
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
        ChromeDriver driver = new ChromeDriver(service, options);
        driver.manage().timeouts().scriptTimeout(Duration.ofSeconds(30));
        driver.executeCdpCommand("Page.addScriptToEvaluateOnNewDocument", Map.of("source", RECORD_PROBLEMS));
        Browser browser = new Browser(driver, profile, "http://localhost:" + port);
        browser.size(1280, 800);
        return browser;
    }

    void get(String path) {
        driver.get(base + path);
    }

    String base() {
        return base;
    }

    WebElement find(String css) {
        return driver.findElement(By.cssSelector(css));
    }

    /** Waits up to {@code seconds} for a visible element. */
    WebElement await(String css, int seconds) {
        return new WebDriverWait(driver, Duration.ofSeconds(seconds))
                .until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector(css)));
    }

    WebElement await(String css) {
        return await(css, 20);
    }

    /** Waits until the element's text contains {@code part}; returns the whole text. */
    String awaitText(String css, String part) {
        new WebDriverWait(driver, Duration.ofSeconds(20))
                .until(ExpectedConditions.textToBePresentInElementLocated(By.cssSelector(css), part));
        return find(css).getText();
    }

    /** An element's exact text, whitespace included (getText() normalizes it). */
    String textContent(String css) {
        return find(css).getDomProperty("textContent");
    }

    Object script(String js, Object... args) {
        return ((JavascriptExecutor) driver).executeScript(js, args);
    }

    /** Sizes the viewport (not the window, which is larger by its frame) to {@code width x height} CSS pixels. */
    void size(int width, int height) {
        driver.manage().window().setSize(new Dimension(width, height));
        Dimension inner = viewport();
        driver.manage().window().setSize(new Dimension(2 * width - inner.getWidth(), 2 * height - inner.getHeight()));
    }

    /** The viewport's size in CSS pixels. */
    Dimension viewport() {
        @SuppressWarnings("unchecked")
        java.util.List<Long> wh = (java.util.List<Long>) script("return [window.innerWidth, window.innerHeight]");
        return new Dimension(wh.get(0).intValue(), wh.get(1).intValue());
    }

    /** Saves a PNG of the viewport as {@code name.png} under $REFT_CONSOLE_SCREENSHOTS, when that is set. */
    void screenshot(String name) {
        String dir = System.getenv(SCREENSHOTS_ENV);
        if (dir == null || dir.isBlank()) {
            return;
        }
        try {
            script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur()");
            Path out = Files.createDirectories(Path.of(dir)).resolve(name + ".png");
            Files.write(out, driver.getScreenshotAs(OutputType.BYTES));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What the pages of this tab reported (script errors, CSP violations) since it opened. */
    @SuppressWarnings("unchecked")
    java.util.List<String> problems() {
        return (java.util.List<String>) script("return JSON.parse(sessionStorage.getItem('test.problems') || '[]')");
    }

    @Override
    public void close() {
        try {
            driver.quit();
        } finally {
            try (Stream<Path> files = Files.walk(profile)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException e) {
                // a leftover temp profile is harmless
            }
        }
    }
}
