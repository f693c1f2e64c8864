// Passwords and password stems that appear at the top of every published breach corpus,
// written out here (lower case, leetspeak undone) so the strength meter can name them
// without downloading anything. A password equal to one of these, or one of these with
// digits and symbols added at either end, is "very weak". The longer list of the most common
// breached passwords that the server used to refuse is password/breached.js: with OPAQUE the
// server never sees a password, so the forms refuse those themselves.

const WORDS = `
123456 12345678 123456789 1234567890 12345 1234 1234567 123123 123321 654321 987654321
0987654321 111111 11111111 1111111111 000000 0000000000 121212 112233 131313 159753
666666 7777777 777777 555555 696969 123qwe 1q2w3e 1q2w3e4r 1q2w3e4r5t 1qaz2wsx zaq12wsx
qwerty qwertyuiop qwerty123 qwertz azerty asdfgh asdfghjkl zxcvbn zxcvbnm qazwsx
password passw0rd password1 password123 pass passwort motdepasse contrasena senha
letmein welcome welcome1 admin administrator root toor login guest master changeme
secret default test test123 temp iloveyou loveme love lovely princess sunshine shadow
dragon monkey football baseball basketball soccer hockey superman batman spiderman
starwars pokemon minecraft freedom whatever trustno1 access hello hello123 abc123
abcdef abcdefg abcdefgh abcdefghij michael jennifer jessica ashley charlie daniel
thomas robert jordan hunter buster tigger ginger pepper maggie summer winter autumn
computer internet google facebook samsung apple mustang ferrari harley yankees
chelsea liverpool arsenal barcelona killer matrix thunder cheese cookie chocolate
flower butterfly angel baby babygirl family friends forever blessed jesus heaven
qwertyui 147258369 147258 159357 741852963 963852741 102030 a123456 aa123456
q1w2e3r4 q1w2e3r4t5 1qazxsw2 asdf1234 zxcv1234 ninja mynoob nothing secure security
securechat chatpassword mypassword yourpassword newpassword oldpassword
`;

export const COMMON = new Set(WORDS.split(/\s+/).filter(Boolean));
