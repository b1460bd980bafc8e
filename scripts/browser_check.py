"""Drives `genpt serve`'s web page in a real browser (headless Chromium through Selenium and
chromedriver), as a person would: the page asks for the API key, refuses a wrong one, streams a
completion with each token's probability, shows the prompt's tokens, and classifies an example.
Used by tests/serve/page.rs.

Usage: python3 scripts/browser_check.py URL KEY [SCREENSHOT.png]
Prints one JSON object of what the page showed.
"""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def browser():
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main(url, key, screenshot=None):
    seen = {}
    driver = browser()
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(url)
        # Without a key the API refuses the page's first call: the key box appears.
        keybox = wait.until(ec.visibility_of_element_located((By.ID, "keybox")))
        seen["asked_for_key"] = keybox.is_displayed()
        seen["model_line_without_key"] = driver.find_element(By.ID, "model").text

        # A wrong key: refused, and said so.
        driver.find_element(By.ID, "apikey").send_keys("wrong-" + key)
        driver.find_element(By.ID, "savekey").click()
        wait.until(lambda d: "API key" in d.find_element(By.ID, "model").text)
        seen["wrong_key_message"] = driver.find_element(By.ID, "model").text

        # The right key: the models load, the prompt is tokenized.
        field = driver.find_element(By.ID, "apikey")
        field.clear()
        field.send_keys(key)
        driver.find_element(By.ID, "savekey").click()
        wait.until(lambda d: "context" in d.find_element(By.ID, "model").text)
        seen["model_line"] = driver.find_element(By.ID, "model").text
        prompt = driver.find_element(By.ID, "prompt")
        prompt.clear()
        prompt.send_keys("the cat sat on the")
        wait.until(lambda d: d.find_element(By.ID, "count").text.endswith("tokens")
                   and len(d.find_elements(By.CSS_SELECTOR, "#chips .chip")) > 0)
        time.sleep(0.5)  # the debounced tokenization of the final text
        seen["prompt_tokens"] = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#chips .chip")]

        # A streamed completion, greedy so that the test can check its text.
        for name, value in (("max_tokens", "8"), ("temperature", "0")):
            box = driver.find_element(By.ID, name)
            box.clear()
            box.send_keys(value)
        driver.find_element(By.ID, "generate").click()
        wait.until(lambda d: "tokens in" in d.find_element(By.ID, "status").text
                   or d.find_element(By.ID, "gen-error").text)
        seen["generate_error"] = driver.find_element(By.ID, "gen-error").text
        tokens = driver.find_elements(By.CSS_SELECTOR, "#output .tok")
        seen["generated_tokens"] = [t.text for t in tokens]
        seen["probabilities"] = [
            float(p) if (p := t.get_attribute("data-prob")) is not None else None for t in tokens]
        seen["output_html"] = driver.find_element(By.ID, "output").get_attribute("innerHTML")[:2000]
        seen["output_text"] = driver.find_element(By.ID, "output").text
        if tokens:
            ActionChains(driver).move_to_element(tokens[0]).perform()
            time.sleep(0.2)
            seen["hover"] = driver.find_element(By.ID, "tip").text

        # Classify with the first classifier's form.
        inputs = driver.find_elements(By.CSS_SELECTOR, ".task input")
        seen["classifiers"] = sorted({i.get_attribute("data-task") for i in inputs})
        if inputs:
            task = inputs[0].get_attribute("data-task")
            for i in inputs:
                if i.get_attribute("data-task") == task:
                    i.send_keys("the dog ran in the park")
            driver.find_element(By.CSS_SELECTOR, f'.task button[data-task="{task}"]').click()
            result = f'.result[data-task="{task}"]'
            wait.until(lambda d: d.find_element(By.CSS_SELECTOR, result).text)
            seen["classified_task"] = task
            seen["classification"] = driver.find_element(By.CSS_SELECTOR, result).text
        if screenshot:
            driver.save_screenshot(screenshot)
    finally:
        driver.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    main(*sys.argv[1:])
