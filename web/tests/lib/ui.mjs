// Steps a user takes in the app, as Playwright actions on its accessible names.

import { readFile } from 'node:fs/promises';
import { screenshot } from './harness.mjs';

export const PASSWORD = 'correct horse battery';
export const PASSPHRASE = 'a long key file passphrase';

/** Opens the register form: from the login screen, or from a link (an invitation) that opens it. */
export async function openRegister(page, link = null) {
  if (link) {
    await page.goto(link);
  } else {
    await page.goto('/');
    await page.getByRole('button', { name: 'Create an account' }).click();
  }
  await page.getByRole('heading', { name: 'Create your account' }).waitFor();
}

/** Fills the register form for `name` and submits it. */
export async function submitRegistration(page, name) {
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Email').fill(`${name}@example.org`);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Confirm password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
}

/**
 * Registers through the UI and saves the key file; returns the key file's text. `link` (an
 * invitation link) opens the form instead of the login screen's button.
 */
export async function register(page, name, { shots = false, link = null } = {}) {
  await openRegister(page, link);
  await submitRegistration(page, name);
  await page.getByRole('heading', { name: 'Your keys are ready' }).waitFor({ timeout: 30000 });
  const start = page.getByRole('button', { name: 'Start chatting' });
  if (!(await start.isDisabled())) throw new Error('chatting must wait for the key file');
  await page.getByLabel('Key file passphrase').fill(PASSPHRASE);
  await page.getByLabel('Confirm passphrase').fill(PASSPHRASE);
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download key file' }).click();
  const file = await download;
  const keyFile = await readFile(await file.path(), 'utf8');
  await page.getByText('Key file saved.', { exact: false }).first().waitFor();
  if (shots) await screenshot(page, '04-keys-ready');
  await start.click();
  await contactList(page).waitFor();
  return { keyFile, suggestedName: file.suggestedFilename() };
}

export async function login(page, username, password = PASSWORD) {
  await page.goto('/');
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

export const contactList = (page) => page.getByRole('navigation', { name: 'Contacts' });

/** A contact's button in the list. */
export function contact(page, name) {
  return page.locator('.contact').filter({ has: page.locator('.contact-name', { hasText: new RegExp(`^${name}$`) }) });
}

export async function openConversation(page, name) {
  await contact(page, name).click();
  await page.getByRole('log', { name: `Messages with ${name}` }).waitFor();
}

export const log = (page) => page.getByRole('log');
export const composer = (page) => page.getByRole('textbox', { name: /^Message to / });

/** A message in the open conversation by its text. */
export function message(page, text) {
  return log(page).locator('.msg').filter({ hasText: text });
}

export async function sendText(page, text) {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}

export async function menu(page, item) {
  await page.getByRole('button', { name: /^Account menu/ }).click();
  await page.getByRole('button', { name: item }).click();
}
